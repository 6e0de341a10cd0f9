package share

import (
	"crypto/ed25519"
	"errors"
	"testing"
)

// FuzzOpen checks that Open never panics and never returns a payload with
// an error, that every failure is one of the package's sentinel errors, and
// that whatever it accepts is a valid payload naming the expected IDs.
func FuzzOpen(f *testing.F) {
	v := generateShareVectors()
	rcpt := xkey("recipient")
	ownerPub := edkey("owner").Public().(ed25519.PublicKey)
	ids := [3][16]byte{[16]byte(v.Shares[0].ShareID), [16]byte(v.Shares[0].Owner), [16]byte(v.Shares[0].Recipient)}
	for _, s := range v.Shares {
		f.Add([]byte(s.Sealed))
	}
	for _, c := range v.Failures {
		f.Add([]byte(c.Sealed))
	}
	f.Fuzz(func(t *testing.T, sealed []byte) {
		p, err := Open(sealed, rcpt, ids[0], ids[1], ids[2], ownerPub)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrDecrypt) && !errors.Is(err, ErrSignature) && !errors.Is(err, ErrMismatch) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if p != (Payload{}) {
				t.Fatal("a payload returned with an error")
			}
			return
		}
		if p.ShareID != ids[0] || p.Owner != ids[1] || p.Recipient != ids[2] || p.check() != nil {
			t.Fatalf("accepted an invalid payload %+v", p)
		}
	})
}

// FuzzPayload fuzzes the decrypted-payload parser directly (HPKE keeps
// FuzzOpen's mutations from reaching it): it must never panic nor return a
// payload with an error, and what it accepts must re-encode to its input.
// The seeds are payloads signed by the vectors' owner key; mutations break
// the signature, so the parser's structure checks are what gets exercised,
// and a verifier that accepts any signature is fuzzed as well.
func FuzzPayload(f *testing.F) {
	v := generateShareVectors()
	owner := edkey("owner")
	ids := [3][16]byte{[16]byte(v.Shares[0].ShareID), [16]byte(v.Shares[0].Owner), [16]byte(v.Shares[0].Recipient)}
	for _, s := range v.Shares {
		f.Add([]byte(s.Payload), false)
	}
	f.Add(make([]byte, minPayload), true)
	f.Add(append(appendPayload(nil, &Payload{ShareID: ids[0], Owner: ids[1], Recipient: ids[2], Level: Read, Name: "x"}), make([]byte, sigSize)...), true)
	f.Fuzz(func(t *testing.T, pt []byte, resign bool) {
		in := pt
		if resign && len(pt) >= sigSize {
			// Re-sign whatever precedes the last 64 bytes, so mutations
			// get past the signature to the field checks.
			in = signPayload(pt[:len(pt)-sigSize], owner)
		}
		p, err := openPayload(in, ids[0], ids[1], ids[2], owner.Public().(ed25519.PublicKey))
		if err != nil {
			if p != (Payload{}) {
				t.Fatal("a payload returned with an error")
			}
			return
		}
		if p.check() != nil || p.ShareID != ids[0] || p.Owner != ids[1] || p.Recipient != ids[2] {
			t.Fatalf("accepted an invalid payload %+v", p)
		}
		if got := signPayload(appendPayload(nil, &p), owner); string(got) != string(in) {
			t.Fatal("accepted payload does not re-encode to its input")
		}
	})
}
