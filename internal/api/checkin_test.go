package api

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"strings"
	"testing"

	"github.com/nuage-storage/nuage/internal/identity"
)

func seededIdentity(first byte) *identity.Identity {
	seed := make([]byte, ed25519.SeedSize)
	for i := range seed {
		seed[i] = first + byte(i)
	}
	return identity.FromPrivateKey(ed25519.NewKeyFromSeed(seed))
}

func signedCheckIn(t *testing.T, node *identity.Identity) CheckIn {
	t.Helper()
	c := CheckIn{Address: "127.0.0.1:7001", Capacity: 1 << 40, Used: 123456789, Time: 1763800000}
	SignCheckIn(&c, node)
	if c.Node != node.ID() {
		t.Fatal("SignCheckIn did not set Node")
	}
	return c
}

// TestCheckInMessage pins the signed bytes to docs/spec.md §7.1:
// "nuage-checkin-v1" || 0x00 || node ID || LP(address) || uint64(capacity) || uint64(used) || int64(time).
func TestCheckInMessage(t *testing.T) {
	node := seededIdentity(0x20)
	c := CheckIn{Node: node.ID(), Address: "node.example:7001", Capacity: 0x0102030405060708, Used: 9, Time: -2}
	var want []byte
	want = append(want, "nuage-checkin-v1"...)
	want = append(want, 0)
	id := node.ID()
	want = append(want, id[:]...)
	want = append(want, 0, byte(len(c.Address)))
	want = append(want, c.Address...)
	want = append(want, 1, 2, 3, 4, 5, 6, 7, 8)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 9)
	want = append(want, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe)
	if got := CheckInMessage(c); !bytes.Equal(got, want) {
		t.Fatalf("CheckInMessage =\n%x\nwant\n%x", got, want)
	}
	// The signature and nothing else is excluded.
	c.Signature = []byte("ignored")
	if got := CheckInMessage(c); !bytes.Equal(got, want) {
		t.Fatal("CheckInMessage depends on the signature field")
	}
}

func TestSignVerifyCheckIn(t *testing.T) {
	node := seededIdentity(0x20)
	other := seededIdentity(0x60)
	c := signedCheckIn(t, node)
	if !VerifyCheckIn(c) {
		t.Fatal("genuine check-in rejected")
	}
	if !ed25519.Verify(node.ID().PublicKey(), CheckInMessage(c), c.Signature) {
		t.Fatal("signature is not Ed25519 over CheckInMessage")
	}

	// Through JSON, as the coordinator receives it.
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var received CheckIn
	if err := json.Unmarshal(b, &received); err != nil {
		t.Fatal(err)
	}
	if !VerifyCheckIn(received) {
		t.Fatalf("check-in rejected after a JSON round trip: %s", b)
	}

	tests := []struct {
		name string
		edit func(c *CheckIn)
	}{
		{"node", func(c *CheckIn) { c.Node = other.ID() }},
		{"zero node", func(c *CheckIn) { c.Node = identity.ID{} }},
		{"address", func(c *CheckIn) { c.Address = "127.0.0.1:7002" }},
		{"empty address", func(c *CheckIn) { c.Address = "" }},
		{"address with the length moved", func(c *CheckIn) { c.Address += "\x00" }},
		{"capacity", func(c *CheckIn) { c.Capacity++ }},
		{"negative capacity", func(c *CheckIn) { c.Capacity = -c.Capacity }},
		{"used", func(c *CheckIn) { c.Used-- }},
		{"used swapped with capacity", func(c *CheckIn) { c.Used, c.Capacity = c.Capacity, c.Used }},
		{"time", func(c *CheckIn) { c.Time += 300 }},
		{"zero time", func(c *CheckIn) { c.Time = 0 }},
		{"flipped signature", func(c *CheckIn) { c.Signature = bytes.Clone(c.Signature); c.Signature[0] ^= 1 }},
		{"truncated signature", func(c *CheckIn) { c.Signature = c.Signature[:63] }},
		{"long signature", func(c *CheckIn) { c.Signature = append(bytes.Clone(c.Signature), 0) }},
		{"no signature", func(c *CheckIn) { c.Signature = nil }},
		{"signed by another node", func(c *CheckIn) { c.Signature = other.Sign(CheckInMessage(*c)) }},
		{"re-signed by another node under its own ID, keeping the victim's", func(c *CheckIn) {
			SignCheckIn(c, other)
			c.Node = node.ID()
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := c
			tt.edit(&m)
			if VerifyCheckIn(m) {
				t.Fatalf("tampered check-in accepted: %+v", m)
			}
		})
	}
}

// TestCheckInLongAddress checks that an address too long for its 16-bit
// length prefix is refused rather than signed over a truncated length.
func TestCheckInLongAddress(t *testing.T) {
	node := seededIdentity(0x20)
	for _, n := range []int{1<<16 - 1, 1 << 16, 1<<16 + 5} {
		c := CheckIn{Address: strings.Repeat("a", n), Capacity: 1, Time: 1}
		SignCheckIn(&c, node)
		if got, want := VerifyCheckIn(c), n < 1<<16; got != want {
			t.Errorf("address of %d bytes: VerifyCheckIn = %v, want %v", n, got, want)
		}
	}
}

func BenchmarkVerifyCheckIn(b *testing.B) {
	node := seededIdentity(0x20)
	c := CheckIn{Address: "127.0.0.1:7001", Capacity: 1 << 40, Used: 1 << 30, Time: 1763800000}
	SignCheckIn(&c, node)
	b.ReportAllocs()
	for b.Loop() {
		if !VerifyCheckIn(c) {
			b.Fatal("rejected")
		}
	}
}
