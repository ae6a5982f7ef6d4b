"""SHA-256 in Redis Lua (5.1, with the `bit` library Redis and Valkey ship), for the append script.

Redis offers no SHA-256 to scripts, yet only the script knows the chain head an event links to.
It hashes just the short link line of `app.audit.chain` (about 140 bytes: three 64-byte blocks),
so its cost does not grow with the event. tests/test_audit_sha.py checks it against hashlib.
"""

from __future__ import annotations

# Defines locals `sha256(message)`, the lowercase hex digest, `sha256_raw(message)`, its 32 bytes,
# and `sha256_both(message)`, both from one pass (the chain wants hex, the Merkle tree bytes).
# `bit` works on signed 32-bit integers; `tobit` wraps each sum back into that range.
SHA256_LUA = """
local band, bor, bxor, lshift = bit.band, bit.bor, bit.bxor, bit.lshift
local ror, rshift, tobit, tohex = bit.ror, bit.rshift, bit.tobit, bit.tohex
local byte, char, rep, floor = string.byte, string.char, string.rep, math.floor
local K = {
0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,
0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,
0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,
0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,
0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,
0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,
0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,
0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2}
local function sha256_words(msg)
  local len = #msg
  local bits = len * 8
  local pad = 64 - ((len + 9) % 64)
  if pad == 64 then pad = 0 end
  local hi = floor(bits / 4294967296)
  local lo = bits % 4294967296
  msg = msg .. char(128) .. rep(char(0), pad)
    .. char(floor(hi / 16777216) % 256, floor(hi / 65536) % 256, floor(hi / 256) % 256, hi % 256)
    .. char(floor(lo / 16777216) % 256, floor(lo / 65536) % 256, floor(lo / 256) % 256, lo % 256)
  local h0, h1, h2, h3 = 0x6a09e667, tobit(0xbb67ae85), 0x3c6ef372, tobit(0xa54ff53a)
  local h4, h5, h6, h7 = 0x510e527f, tobit(0x9b05688c), 0x1f83d9ab, 0x5be0cd19
  local w = {}
  for i = 1, #msg, 64 do
    local x = {byte(msg, i, i + 63)}
    for j = 0, 15 do
      local k = j * 4
      w[j] = bor(lshift(x[k + 1], 24), lshift(x[k + 2], 16), lshift(x[k + 3], 8), x[k + 4])
    end
    for j = 16, 63 do
      local u, v = w[j - 15], w[j - 2]
      local s0 = bxor(ror(u, 7), ror(u, 18), rshift(u, 3))
      local s1 = bxor(ror(v, 17), ror(v, 19), rshift(v, 10))
      w[j] = tobit(w[j - 16] + s0 + w[j - 7] + s1)
    end
    local a, b, c, d, e, f, g, h = h0, h1, h2, h3, h4, h5, h6, h7
    for j = 0, 63 do
      -- ch and maj in their cheaper equivalent forms: g ^ (e & (f ^ g)), (a & b) | (c & (a | b))
      local t1 = h + bxor(ror(e, 6), ror(e, 11), ror(e, 25)) + bxor(g, band(e, bxor(f, g)))
        + K[j + 1] + w[j]
      local t2 = bxor(ror(a, 2), ror(a, 13), ror(a, 22)) + bor(band(a, b), band(c, bor(a, b)))
      h, g, f, e = g, f, e, tobit(d + t1)
      d, c, b, a = c, b, a, tobit(t1 + t2)
    end
    h0, h1, h2, h3 = tobit(h0 + a), tobit(h1 + b), tobit(h2 + c), tobit(h3 + d)
    h4, h5, h6, h7 = tobit(h4 + e), tobit(h5 + f), tobit(h6 + g), tobit(h7 + h)
  end
  return h0, h1, h2, h3, h4, h5, h6, h7
end
local function words_hex(h0, h1, h2, h3, h4, h5, h6, h7)
  return tohex(h0) .. tohex(h1) .. tohex(h2) .. tohex(h3)
    .. tohex(h4) .. tohex(h5) .. tohex(h6) .. tohex(h7)
end
local function be(x)
  return char(band(rshift(x, 24), 255), band(rshift(x, 16), 255), band(rshift(x, 8), 255),
    band(x, 255))
end
local function words_raw(h0, h1, h2, h3, h4, h5, h6, h7)
  return be(h0) .. be(h1) .. be(h2) .. be(h3) .. be(h4) .. be(h5) .. be(h6) .. be(h7)
end
local function sha256(msg) return words_hex(sha256_words(msg)) end
local function sha256_raw(msg) return words_raw(sha256_words(msg)) end
local function sha256_both(msg)
  local h0, h1, h2, h3, h4, h5, h6, h7 = sha256_words(msg)
  return words_hex(h0, h1, h2, h3, h4, h5, h6, h7), words_raw(h0, h1, h2, h3, h4, h5, h6, h7)
end
"""
