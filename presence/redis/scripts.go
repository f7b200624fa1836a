package redis

import goredis "github.com/redis/go-redis/v9"

// The Lua scripts, each one round trip and atomic. Every key a script
// touches is in its KEYS and shares the hash tag of [keys].

// writeScript refreshes this node's liveness key and applies a batch of
// joins and leaves to its hash. It returns 0 without writing when the
// liveness key is gone (expired, reaped or lost in a Redis restart): the
// node must register again first, or a reaper could miss what it wrote.
//
//	KEYS[1]  alive key
//	KEYS[2]  hash
//	ARGV[1]  TTL in milliseconds
//	ARGV[2]  n, the number of records to set
//	ARGV[3:] n pairs of subscriber ID, record; then subscriber IDs to delete
var writeScript = goredis.NewScript(`
if redis.call('PEXPIRE', KEYS[1], ARGV[1]) == 0 then return 0 end
local n = tonumber(ARGV[2])
local i = 3
for _ = 1, n do
  redis.call('HSET', KEYS[2], ARGV[i], ARGV[i + 1])
  i = i + 2
end
for j = i, #ARGV do redis.call('HDEL', KEYS[2], ARGV[j]) end
return 1
`)

// registerScript (re)registers this node with an empty hash, which the node
// then fills from its own records. It returns -1 and changes nothing while
// another node reaps this node's old records; otherwise 1 when a node had
// reaped them (the tombstone, which it deletes), else 0.
//
//	KEYS[1]  alive key
//	KEYS[2]  hash
//	KEYS[3]  reaper key
//	KEYS[4]  nodes set
//	KEYS[5]  tombstone
//	KEYS[6]  progress key of a reaping that stopped
//	ARGV[1]  node ID
//	ARGV[2]  TTL in milliseconds
//	ARGV[3]  value of the alive key (when the node registered)
var registerScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
redis.call('UNLINK', KEYS[2], KEYS[6])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[2])
redis.call('SADD', KEYS[4], ARGV[1])
return redis.call('DEL', KEYS[5])
`)

// goodbyeScript removes this node and its records.
//
//	KEYS[1]  alive key
//	KEYS[2]  hash
//	KEYS[3]  nodes set
//	ARGV[1]  node ID
var goodbyeScript = goredis.NewScript(`
redis.call('UNLINK', KEYS[1], KEYS[2])
redis.call('SREM', KEYS[3], ARGV[1])
return 1
`)

// claimScript makes this node the reaper of a dead node, if its liveness
// key is gone and no other node reaps it, and leaves the tombstone that
// tells the dead node, should it come back, that its records were (or may
// have been) reported gone. It returns 1 when it did.
//
//	KEYS[1]  the dead node's alive key
//	KEYS[2]  its reaper key
//	KEYS[3]  its tombstone
//	ARGV[1]  this node's ID
//	ARGV[2]  how long the claim lasts unless renewed, in milliseconds
//	ARGV[3]  how long the tombstone lasts, in milliseconds
var claimScript = goredis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
if not redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('SET', KEYS[3], ARGV[1], 'PX', ARGV[3])
return 1
`)

// reapPageScript renews this node's claim on a dead node, records how far
// the reaping got, and returns the next page of the dead node's hash (the
// reply of HSCAN), or nil when the claim was lost. Progress is the HSCAN
// cursor after the pages already reported: a reaper that dies leaves it to
// the next, which resumes there. Nothing writes a dead node's hash (its
// writes need its liveness key; registering again waits for the claim), so
// the cursor stays valid.
//
//	KEYS[1]  reaper key
//	KEYS[2]  the dead node's hash
//	KEYS[3]  progress key
//	ARGV[1]  this node's ID
//	ARGV[2]  claim duration in milliseconds
//	ARGV[3]  the cursor after the pages reported, or "" to resume from the
//	         progress key (the first page of a reaping)
//	ARGV[4]  page size (HSCAN COUNT)
var reapPageScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return false end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
local cursor = ARGV[3]
if cursor == '' then
  cursor = redis.call('GET', KEYS[3]) or '0'
else
  redis.call('SET', KEYS[3], cursor, 'PX', ARGV[2] * 10)
end
return redis.call('HSCAN', KEYS[2], cursor, 'COUNT', ARGV[4])
`)

// finishScript ends a reaping whose every page was reported: it deletes the
// dead node's hash and progress, removes it from the set, renews the
// tombstone and releases the claim. It returns 0, or -1 when the claim was
// lost.
//
//	KEYS[1]  reaper key
//	KEYS[2]  the dead node's hash
//	KEYS[3]  progress key
//	KEYS[4]  nodes set
//	KEYS[5]  tombstone
//	ARGV[1]  this node's ID
//	ARGV[2]  the dead node's ID
//	ARGV[3]  how long the tombstone lasts, in milliseconds
var finishScript = goredis.NewScript(`
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return -1 end
redis.call('UNLINK', KEYS[2], KEYS[3])
redis.call('SREM', KEYS[4], ARGV[2])
redis.call('SET', KEYS[5], ARGV[1], 'PX', ARGV[3])
redis.call('DEL', KEYS[1])
return 0
`)
