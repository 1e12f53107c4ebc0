"""The message crypto shared by WeChat Official Accounts (安全模式) and WeCom callbacks
(回调加解密), as Tencent's WXBizMsgCrypt documents it:

- signature     = SHA1 of the sorted, concatenated [token, timestamp, nonce]          (plain mode)
- msg_signature = SHA1 of the sorted, concatenated [token, timestamp, nonce, encrypt]
- AESKey = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = AESKey[:16];
  PKCS#7 padding to 32-byte blocks;
  plaintext = 16 random bytes + len(msg) as 4-byte big-endian + msg + receiveid
  (the AppID for an Official Account, the CorpID for WeCom).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from deskgate.connectors.base import BadPayload, SettingsError, Unauthorized

BLOCK = 32
MAX_ENCRYPTED = 1 << 20


def sha1_signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise SettingsError("encoding_aes_key must be the 43 characters WeChat shows")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise SettingsError(f"encoding_aes_key is not base64: {exc}") from exc
    if len(key) != 32:
        raise SettingsError("encoding_aes_key must decode to 32 bytes")
    return key


def encrypt(key: bytes, receive_id: str, message: bytes, random16: bytes | None = None) -> str:
    """Used to build passive replies and, in tests, to play the provider."""
    raw = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + \
        receive_id.encode()
    pad = BLOCK - len(raw) % BLOCK
    raw += bytes([pad]) * pad
    enc = Cipher(algorithms.AES(key), modes.CBC(key[:16])).encryptor()
    return base64.b64encode(enc.update(raw) + enc.finalize()).decode()


def decrypt(key: bytes, receive_id: str, encrypted: str) -> bytes:
    """The inner message; refuses ciphertext that is not for this AppID/CorpID."""
    if len(encrypted) > MAX_ENCRYPTED:
        raise BadPayload("encrypted message too large")
    try:
        data = base64.b64decode(encrypted, validate=True)
    except binascii.Error as exc:
        raise BadPayload(f"Encrypt is not base64: {exc}") from exc
    if not data or len(data) % 16:
        raise BadPayload("Encrypt is not a whole number of AES blocks")
    dec = Cipher(algorithms.AES(key), modes.CBC(key[:16])).decryptor()
    raw = dec.update(data) + dec.finalize()
    pad = raw[-1]
    if not 1 <= pad <= BLOCK or raw[-pad:] != bytes([pad]) * pad or len(raw) < 20 + pad:
        raise BadPayload("Encrypt has bad padding (wrong EncodingAESKey?)")
    raw = raw[:-pad]
    (length,) = struct.unpack(">I", raw[16:20])
    if 20 + length > len(raw):
        raise BadPayload("Encrypt has a bad length field")
    if raw[20 + length:].decode("utf-8", "replace") != receive_id:
        raise Unauthorized("wrong_receiver", "the message was encrypted for another AppID/CorpID")
    return raw[20:20 + length]
