-- pause: stop handing out the queue's jobs (1) or hand them out again (0).
-- ARGV: 1 to pause, 0 to resume
-- Reply: 1
if ARGV[1] == '1' then
  redis.call('HSET', META, 'paused', '1')
else
  redis.call('HDEL', META, 'paused')
  wake(WAKE_MAX)
end
return 1
