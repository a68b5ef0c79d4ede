-- recover: apply what time has changed now (every other script does it first anyway).
-- ARGV: none
-- Reply: {promoted, reclaimed, dead}
return tick()
