package coordinator

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/subtle"
	"encoding/binary"
	"time"
)

// TOTP parameters (RFC 6238 as docs/spec.md §2.3 fixes them): HMAC-SHA-1,
// 30-second steps, 6 digits, the current step and one on either side.
const (
	TOTPSecretSize = 20
	TOTPDigits     = 6
	TOTPPeriod     = 30 * time.Second
	totpSkew       = 1
)

// hotp returns the RFC 4226 one-time password of counter under secret,
// digits (1..9) decimal digits with leading zeros.
func hotp(secret []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	var sum [sha1.Size]byte
	m.Sum(sum[:0])
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	out := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		out[i] = byte('0' + v%10)
		v /= 10
	}
	return string(out)
}

// totpStep returns the RFC 6238 time step of t (T0 = 0, 30 s).
func totpStep(t time.Time) int64 {
	s, p := t.Unix(), int64(TOTPPeriod/time.Second)
	if s < 0 {
		return (s - p + 1) / p
	}
	return s / p
}

// validTOTPCode reports whether code has the form of a code: TOTPDigits
// ASCII digits.
func validTOTPCode(code string) bool {
	if len(code) != TOTPDigits {
		return false
	}
	for i := range len(code) {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// totpMatch returns the steps within totpSkew of now's step whose code
// under secret is code, in ascending order. Every candidate is computed
// and compared in constant time, whatever matches.
func totpMatch(secret []byte, code string, now time.Time) []int64 {
	if !validTOTPCode(code) {
		return nil
	}
	var out []int64
	step := totpStep(now)
	for d := int64(-totpSkew); d <= totpSkew; d++ {
		s := step + d
		if s < 0 {
			continue
		}
		want := hotp(secret, uint64(s), TOTPDigits)
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			out = append(out, s)
		}
	}
	return out
}
