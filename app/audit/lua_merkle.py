"""The Merkle tree's half of the append script, in Redis Lua (needs `app.audit.lua_sha256`).

The tree (`app.audit.merkle`) is kept as its perfect-subtree nodes, 32 raw bytes each, at their
in-order slots (`Node.position`) in strings of CHUNK nodes: `{base}:{slot // CHUNK}` at byte
32 * (slot % CHUNK). A node never changes once its subtree is complete, so the append writes the
new leaf and each node it completes (one on average: a leaf completes as many nodes as its index
has trailing one bits), reading one stored sibling per node, and never rewrites the tree.
`merkle_add` takes the base key from KEYS and names its chunk keys after it: the chunks exist
only as its suffixes, like the stream's own entries.
"""

from __future__ import annotations

CHUNK = 1 << 20  # nodes per string: 32 MiB, far below Redis's 512 MB string limit

# Defines `merkle_add(base, index, leaf)`: leaf `index` (0-based) is the 32 raw bytes `leaf`.
MERKLE_LUA = f"""
local function merkle_slot(base, level, index)
  local slot = index * 2 ^ (level + 1) + 2 ^ level - 1
  return base .. ':' .. string.format('%d', floor(slot / {CHUNK})), (slot % {CHUNK}) * 32
end
local function merkle_add(base, index, leaf)
  local h = sha256_raw(char(0) .. leaf)
  local level, i = 0, index
  local key, at = merkle_slot(base, 0, i)
  redis.call('SETRANGE', key, at, h)
  while i % 2 == 1 do
    key, at = merkle_slot(base, level, i - 1)
    h = sha256_raw(char(1) .. redis.call('GETRANGE', key, at, at + 31) .. h)
    i, level = (i - 1) / 2, level + 1
    key, at = merkle_slot(base, level, i)
    redis.call('SETRANGE', key, at, h)
  end
end
"""

# KEYS: 1 the tree's base key. ARGV: in-order slots. Returns each node as hex ('' when that slot
# was never written), so clients that decode replies as text can read the raw nodes.
NODES_LUA = f"""
local out = {{}}
local fmt = string.rep('%02x', 32)
for i = 1, #ARGV do
  local slot = tonumber(ARGV[i])
  local key = KEYS[1] .. ':' .. string.format('%d', math.floor(slot / {CHUNK}))
  local at = (slot % {CHUNK}) * 32
  local node = redis.call('GETRANGE', key, at, at + 31)
  if #node == 32 then out[i] = string.format(fmt, string.byte(node, 1, 32)) else out[i] = '' end
end
return out
"""

# KEYS: 1 the tree's base key, 2 the head. ARGV: 1 the tree size the caller read its leaves from,
# then each next leaf's 32 bytes. Extends a tree that lags the chain (a log begun before the
# tree) only if no one moved it meanwhile; returns the tree's size after. Once it reaches the
# head's `seq`, appends carry on (`app.audit.scripts`).
EXTEND_LUA = """
local head = redis.call('HMGET', KEYS[2], 'seq', 'tree')
local tree = tonumber(head[2] or '0')
if tree ~= tonumber(ARGV[1]) then return tree end
for i = 2, #ARGV do merkle_add(KEYS[1], tree + i - 2, ARGV[i]) end
tree = tree + #ARGV - 1
redis.call('HSET', KEYS[2], 'tree', string.format('%d', tree))
return tree
"""
