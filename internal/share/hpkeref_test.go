package share

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdh"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
)

// A reference implementation of RFC 9180 base mode for the suite of spec
// §11.2 (DHKEM(X25519, HKDF-SHA256) = 0x0020, HKDF-SHA256 = 0x0001,
// AES-256-GCM = 0x0002), written from the RFC independently of
// crypto/hpke. It takes the ephemeral key as an argument, so the vectors
// are deterministic, and it shows that Seal's output is enc || ciphertext.

var (
	kemSuite  = []byte{'K', 'E', 'M', 0x00, 0x20}
	hpkeSuite = []byte{'H', 'P', 'K', 'E', 0x00, 0x20, 0x00, 0x01, 0x00, 0x02}
)

func labeledExtract(suite, salt []byte, label string, ikm []byte) []byte {
	in := append(append(append([]byte("HPKE-v1"), suite...), label...), ikm...)
	return must(hkdf.Extract(sha256.New, in, salt))
}

func labeledExpand(suite, prk []byte, label string, info []byte, n int) []byte {
	in := binary.BigEndian.AppendUint16(nil, uint16(n))
	in = append(append(append(append(in, "HPKE-v1"...), suite...), label...), info...)
	return must(hkdf.Expand(sha256.New, prk, string(in), n))
}

// refSchedule derives the AEAD key and base nonce from the DH output.
func refSchedule(dh, enc, pkR, info []byte) (key, nonce []byte) {
	eae := labeledExtract(kemSuite, nil, "eae_prk", dh)
	shared := labeledExpand(kemSuite, eae, "shared_secret", append(append([]byte(nil), enc...), pkR...), 32)
	ctx := append([]byte{0x00}, labeledExtract(hpkeSuite, nil, "psk_id_hash", nil)...)
	ctx = append(ctx, labeledExtract(hpkeSuite, nil, "info_hash", info)...)
	secret := labeledExtract(hpkeSuite, shared, "secret", nil)
	return labeledExpand(hpkeSuite, secret, "key", ctx, 32), labeledExpand(hpkeSuite, secret, "base_nonce", ctx, 12)
}

func refAEAD(key []byte) cipher.AEAD { return must(cipher.NewGCM(must(aes.NewCipher(key)))) }

// refSeal returns enc || AES-256-GCM(key, base_nonce, plaintext, aad = "").
func refSeal(ephemeral *ecdh.PrivateKey, pkR *ecdh.PublicKey, info, plaintext []byte) []byte {
	dh := must(ephemeral.ECDH(pkR))
	enc := ephemeral.PublicKey().Bytes()
	key, nonce := refSchedule(dh, enc, pkR.Bytes(), info)
	return refAEAD(key).Seal(enc, nonce, plaintext, nil)
}

// refOpen reverses refSeal with the recipient's private key.
func refOpen(skR *ecdh.PrivateKey, info, sealed []byte) ([]byte, error) {
	enc := sealed[:32]
	pkE, err := ecdh.X25519().NewPublicKey(enc)
	if err != nil {
		return nil, err
	}
	dh, err := skR.ECDH(pkE)
	if err != nil {
		return nil, err
	}
	key, nonce := refSchedule(dh, enc, skR.PublicKey().Bytes(), info)
	return refAEAD(key).Open(nil, nonce, sealed[32:], nil)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
