package coordinator

import (
	"slices"
	"testing"
	"time"
)

// TestTOTPRFC6238 checks the generator against the SHA-1 test vectors of
// RFC 6238, Appendix B (8 digits), and the 6-digit codes nuage uses (their
// last 6 digits).
func TestTOTPRFC6238(t *testing.T) {
	seed := []byte("12345678901234567890")
	tests := []struct {
		unix int64
		want string
	}{
		{59, "94287082"},
		{1111111109, "07081804"},
		{1111111111, "14050471"},
		{1234567890, "89005924"},
		{2000000000, "69279037"},
		{20000000000, "65353130"},
	}
	for _, tt := range tests {
		step := totpStep(time.Unix(tt.unix, 0))
		if got := hotp(seed, uint64(step), 8); got != tt.want {
			t.Errorf("T=%d: 8-digit code %s, want %s", tt.unix, got, tt.want)
		}
		if got, want := hotp(seed, uint64(step), TOTPDigits), tt.want[2:]; got != want {
			t.Errorf("T=%d: 6-digit code %s, want %s", tt.unix, got, want)
		}
	}
}

// TestHOTPRFC4226 checks the first values of RFC 4226, Appendix D.
func TestHOTPRFC4226(t *testing.T) {
	want := []string{"755224", "287082", "359152", "969429", "338314", "254676", "287922", "162583", "399871", "520489"}
	for i, w := range want {
		if got := hotp([]byte("12345678901234567890"), uint64(i), 6); got != w {
			t.Errorf("counter %d: %s, want %s", i, got, w)
		}
	}
}

func TestTOTPStep(t *testing.T) {
	for _, tt := range []struct {
		unix, step int64
	}{{0, 0}, {29, 0}, {30, 1}, {59, 1}, {60, 2}, {-1, -1}, {-30, -1}, {-31, -2}} {
		if got := totpStep(time.Unix(tt.unix, 0)); got != tt.step {
			t.Errorf("step(%d) = %d, want %d", tt.unix, got, tt.step)
		}
	}
}

func TestTOTPMatch(t *testing.T) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0) // step 37037037
	step := totpStep(now)
	code := func(s int64) string { return hotp(secret, uint64(s), TOTPDigits) }
	tests := []struct {
		name string
		code string
		want []int64
	}{
		{"current", code(step), []int64{step}},
		{"previous", code(step - 1), []int64{step - 1}},
		{"next", code(step + 1), []int64{step + 1}},
		{"two back", code(step - 2), nil},
		{"two ahead", code(step + 2), nil},
		{"other secret", hotp([]byte("another secret 12345"), uint64(step), TOTPDigits), nil},
		{"empty", "", nil},
		{"short", code(step)[:5], nil},
		{"long", code(step) + "0", nil},
		{"letters", "12a456", nil},
		{"spaces", " " + code(step)[1:], nil},
		{"unicode digits", "١٢٣٤٥٦", nil},
	}
	for _, tt := range tests {
		if got := totpMatch(secret, tt.code, now); !slices.Equal(got, tt.want) {
			t.Errorf("%s: totpMatch(%q) = %v, want %v", tt.name, tt.code, got, tt.want)
		}
	}
	for _, c := range []string{"000000", "999999", "123456"} {
		if !validTOTPCode(c) {
			t.Errorf("validTOTPCode(%q) = false", c)
		}
	}
}

func BenchmarkTOTPMatch(b *testing.B) {
	secret := []byte("12345678901234567890")
	now := time.Unix(1111111111, 0)
	code := hotp(secret, uint64(totpStep(now)), TOTPDigits)
	b.ReportAllocs()
	for b.Loop() {
		if len(totpMatch(secret, code, now)) != 1 {
			b.Fatal("no match")
		}
	}
}
