// The xkv1 seal of Go's nkeys (curve25519, XSalsa20-Poly1305), opened with libsodium:
// "xkv1" + nonce (24) + box. A transfer chunk's nonce also binds its transfer and index
// (docs/security.md): the nonce's last 16 bytes are blake2b(aad, 16, key=its first 8).
import sodium from "libsodium-wrappers-sumo";
import { createCurve } from "@nats-io/nkeys";
import { refused } from "./errors.js";

const VERSION = [120, 107, 118, 49]; // "xkv1"
const HEADER = 4 + 24;
export const ready = sodium.ready;

export function freshKey() {
  return createCurve(); // its seed is used for one transfer (or sign-in) and dropped
}

export function sharedKey(kp, peerPublic) {
  return sodium.crypto_box_beforenm(kp.decodePubCurveKey(peerPublic), kp.seed);
}

function header(sealed) {
  if (sealed.length < HEADER + 16 || VERSION.some((b, i) => sealed[i] !== b)) {
    throw refused(502, "that is not an xkv1 sealed message");
  }
  return sealed.subarray(4, HEADER);
}

export function openChunk(sealed, shared, aad) {
  const nonce = header(sealed);
  const bound = sodium.crypto_generichash(16, new TextEncoder().encode(aad), nonce.subarray(0, 8));
  if (!sodium.memcmp(bound, nonce.subarray(8))) throw refused(502, "a chunk failed its check");
  try {
    return sodium.crypto_box_open_easy_afternm(sealed.subarray(HEADER), nonce, shared);
  } catch {
    throw refused(502, "a chunk failed its check (tampered with, replayed or misplaced)");
  }
}

export function openFrom(sealed, senderPublic, kp) {
  const nonce = header(sealed);
  try {
    return sodium.crypto_box_open_easy(
      sealed.subarray(HEADER),
      nonce,
      kp.decodePubCurveKey(senderPublic),
      kp.seed,
    );
  } catch {
    throw refused(502, "the sealed message does not open with this browser's key");
  }
}

export function sha256() {
  const state = sodium.crypto_hash_sha256_init();
  return {
    update: (bytes) => sodium.crypto_hash_sha256_update(state, bytes),
    hex: () => sodium.to_hex(sodium.crypto_hash_sha256_final(state)),
  };
}
