// Package link implements nuage's share links (docs/spec.md §10): the link
// URL, which carries the link secret in its fragment, the derivation of the
// link's key-encryption and authentication keys from that secret and an
// optional password, and the four key wraps a link record holds.
//
// A link URL looks like
//
//	https://coordinator.example/l/00112233445566778899aabbccddeeff#AQ…(50 characters)
//
// The part after "#" never leaves the client: browsers do not send it, and
// nothing in this package puts it anywhere but String. Use Page for logs.
//
// All functions are safe for concurrent use.
package link

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Version is the version of the link format this package reads and
// writes: the first byte of the decoded fragment.
const Version = 1

var (
	// ErrMalformed reports a string that is not a link URL, or a base URL
	// that cannot start one. Errors that wrap it name the part that is
	// wrong and what to do about it.
	ErrMalformed = errors.New("link: malformed URL")
	// ErrDamaged reports a link URL that is well formed but whose check
	// value does not match its ID and secret: it was mistyped or altered.
	ErrDamaged = errors.New("link: damaged URL (check failed)")
)

// Layout of a link URL.
const (
	idHexLen    = 32
	checkLen    = 4
	fragmentRaw = 1 + 32 + checkLen // version || S || check
	// fragmentLen is the length of the base64url fragment after "#".
	fragmentLen = (fragmentRaw*8 + 5) / 6 // 50
	pathMarker  = "/l/"
	checkLabel  = "nuage-link-v1"
	// maxURLLen bounds what Parse looks at; real links are far shorter.
	maxURLLen = 4096
	// maxIDAttempts bounds New's retries for a zero ID (probability 2^-128).
	maxIDAttempts = 8
)

// b64 is unpadded base64url that refuses non-zero trailing bits, so every
// fragment has exactly one spelling.
var b64 = base64.RawURLEncoding.Strict()

// URL is a parsed link URL. Base is the coordinator's URL ("http" or
// "https" scheme, a host, an optional path prefix, no trailing "/"), ID
// the link ID and Secret the link secret S.
type URL struct {
	Base   string
	ID     [16]byte
	Secret [32]byte
}

// New returns a link URL under base with a random, non-zero link ID and a
// random secret. base is validated as Parse validates the part of a link
// before "/l/"; it must not end with "/".
func New(base string) (URL, error) {
	if err := checkBase(base); err != nil {
		return URL{}, err
	}
	u := URL{Base: base}
	for i := 0; ; i++ {
		if i == maxIDAttempts {
			return URL{}, errors.New("link: the random source returned only zero link IDs")
		}
		if _, err := rand.Read(u.ID[:]); err != nil {
			return URL{}, fmt.Errorf("link: random link ID: %w", err)
		}
		if u.ID != ([16]byte{}) {
			break
		}
	}
	if _, err := rand.Read(u.Secret[:]); err != nil {
		return URL{}, fmt.Errorf("link: random link secret: %w", err)
	}
	return u, nil
}

// String returns the full link URL, secret included:
// Base + "/l/" + hex(ID) + "#" + b64(0x01 || Secret || check).
// Parse(u.String()) returns u for any u that New or Parse returned.
func (u URL) String() string {
	var raw [fragmentRaw]byte
	raw[0] = Version
	copy(raw[1:], u.Secret[:])
	c := check(u.ID, u.Secret)
	copy(raw[1+len(u.Secret):], c[:])
	var b strings.Builder
	b.Grow(len(u.Base) + len(pathMarker) + idHexLen + 1 + fragmentLen)
	b.WriteString(u.Page())
	b.WriteByte('#')
	b.WriteString(b64.EncodeToString(raw[:]))
	return b.String()
}

// Page returns the link URL without its fragment: Base + "/l/" + hex(ID).
// It holds no secret and is safe to log or send to the coordinator.
func (u URL) Page() string {
	return u.Base + pathMarker + hex.EncodeToString(u.ID[:])
}

// Parse parses a link URL (docs/spec.md §10). Leading and trailing white
// space is ignored. It fails with an error wrapping ErrMalformed that names
// the wrong part (scheme, host, path, link ID, query, fragment, version) or,
// for a well-formed URL whose check value does not match, with ErrDamaged.
func Parse(s string) (URL, error) {
	s = strings.TrimSpace(s)
	if len(s) > maxURLLen {
		return URL{}, malformed("the link is %d characters long; a link is much shorter — copy just the link", len(s))
	}
	page, frag, hasFrag := strings.Cut(s, "#")
	if strings.Contains(page, "?") {
		return URL{}, malformed("a link has no query string (the part from \"?\") — copy the link exactly as it was given")
	}
	i := strings.LastIndex(page, pathMarker)
	if i < 0 {
		if err := checkScheme(page); err != nil {
			return URL{}, err
		}
		return URL{}, malformed("the path must end with /l/ followed by the 32-character link ID")
	}
	base, idHex := page[:i], page[i+len(pathMarker):]
	if err := checkBase(base); err != nil {
		return URL{}, err
	}
	var u URL
	u.Base = base
	if err := parseID(idHex, &u.ID); err != nil {
		return URL{}, err
	}
	if !hasFrag || frag == "" {
		return URL{}, malformed("the key part after # is missing — copy the whole link, including what follows #")
	}
	if len(frag) != fragmentLen {
		return URL{}, malformed("the key part after # is %d characters, a link has %d — the link was cut or altered; copy the whole link", len(frag), fragmentLen)
	}
	var raw [fragmentRaw]byte
	if n, err := b64.Decode(raw[:], []byte(frag)); err != nil || n != fragmentRaw {
		return URL{}, malformed("the key part after # is not valid unpadded base64url — the link was altered; copy it again")
	}
	if raw[0] != Version {
		return URL{}, malformed("the link has format version %d, this program reads version %d — update nuage", raw[0], Version)
	}
	copy(u.Secret[:], raw[1:1+len(u.Secret)])
	c := check(u.ID, u.Secret)
	if subtle.ConstantTimeCompare(c[:], raw[1+len(u.Secret):]) != 1 {
		clear(u.Secret[:])
		return URL{}, fmt.Errorf("%w: the link ID and the key part after # do not belong together — a character was mistyped or changed; copy the link again", ErrDamaged)
	}
	clear(raw[:])
	return u, nil
}

// check returns SHA-256("nuage-link-v1" || 0x00 || id || secret)[0:4].
func check(id [16]byte, secret [32]byte) [checkLen]byte {
	h := sha256.New()
	h.Write([]byte(checkLabel))
	h.Write([]byte{0})
	h.Write(id[:])
	h.Write(secret[:])
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return [checkLen]byte(sum[:checkLen])
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// parseID decodes 32 lower-case hex characters into a non-zero ID.
func parseID(s string, id *[16]byte) error {
	if len(s) != idHexLen {
		if strings.HasSuffix(s, "/") {
			return malformed("the link ends with \"/\" after the link ID — remove it")
		}
		return malformed("the link ID after /l/ must be %d lower-case hex characters, it is %d characters", idHexLen, len(s))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') {
			continue
		}
		if 'A' <= c && c <= 'F' {
			return malformed("the link ID must be %d lower-case hex characters; it has upper-case letters — the link was altered, copy it again", idHexLen)
		}
		return malformed("the link ID must be %d lower-case hex characters; it has %q", idHexLen, rune(c))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return malformed("the link ID must be %d lower-case hex characters", idHexLen)
	}
	if *id == ([16]byte{}) {
		return malformed("the link ID is zero, which no link has")
	}
	return nil
}

// checkScheme checks that s starts with "http://" or "https://".
func checkScheme(s string) error {
	if strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") {
		return nil
	}
	if scheme, _, ok := strings.Cut(s, "://"); ok && scheme != "" && !strings.ContainsAny(scheme, "/#?") {
		return malformed("the scheme %q is not http or https — a link starts with https:// or http://", scheme)
	}
	return malformed("a link starts with https:// or http://")
}

// checkBase validates a coordinator base URL: "http://" or "https://", an
// ASCII host (name, IPv4 or bracketed IPv6 address, optional port) and an
// optional path prefix of non-empty segments without a trailing "/".
func checkBase(base string) error {
	if err := checkScheme(base); err != nil {
		return err
	}
	_, rest, _ := strings.Cut(base, "://")
	host, prefix := rest, ""
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		host, prefix = rest[:i], rest[i:]
	}
	if err := checkHost(host); err != nil {
		return err
	}
	return checkPrefix(prefix)
}

func checkHost(host string) error {
	if host == "" {
		return malformed("the host name after :// is missing")
	}
	if strings.ContainsRune(host, '@') {
		return malformed("a link has no user name or password before the host (the part up to \"@\")")
	}
	var port string
	if strings.HasPrefix(host, "[") {
		end := strings.IndexByte(host, ']')
		if end < 0 {
			return malformed("the IPv6 address in the host %q is missing its closing \"]\"", host)
		}
		if a, err := netip.ParseAddr(host[1:end]); err != nil || !a.Is6() || a.Zone() != "" {
			return malformed("the host %q is not a valid IPv6 address", host)
		}
		port = host[end+1:]
		if port != "" && port[0] != ':' {
			return malformed("unexpected characters after the IPv6 address in the host %q", host)
		}
	} else {
		name := host
		if i := strings.IndexByte(host, ':'); i >= 0 {
			name, port = host[:i], host[i:]
		}
		if name == "" {
			return malformed("the host name before the port is missing")
		}
		for j := 0; j < len(name); j++ {
			if c := name[j]; !isAlnum(c) && c != '-' && c != '.' && c != '_' && c != '~' {
				return malformed("the host %q has the character %q; a host is letters, digits, '-' and '.' (use the punycode form of international names)", host, rune(c))
			}
		}
	}
	if port == "" {
		return nil
	}
	p := port[1:]
	if p == "" || len(p) > 5 {
		return malformed("the port in the host %q must be 1 to 5 digits", host)
	}
	for j := 0; j < len(p); j++ {
		if p[j] < '0' || p[j] > '9' {
			return malformed("the port in the host %q must be digits", host)
		}
	}
	if n, err := strconv.Atoi(p); err != nil || n > 65535 {
		return malformed("the port in the host %q must be at most 65535", host)
	}
	return nil
}

// checkPrefix accepts "" or "/seg/seg…" where each segment is one or more
// RFC 3986 path characters, "%" only as part of a valid escape, and none is
// "." or "..".
func checkPrefix(p string) error {
	if p == "" {
		return nil
	}
	if strings.HasSuffix(p, "/") {
		return malformed("the path before /l/ ends with \"/\"; the coordinator URL is written without a trailing \"/\"")
	}
	for _, seg := range strings.Split(p[1:], "/") {
		if seg == "" {
			return malformed("the path before /l/ has an empty segment (\"//\")")
		}
		if seg == "." || seg == ".." {
			return malformed("the path before /l/ has a %q segment", seg)
		}
		for j := 0; j < len(seg); j++ {
			c := seg[j]
			switch {
			case isAlnum(c) || strings.IndexByte("-._~!$&'()*+,;=:@", c) >= 0:
			case c == '%':
				if j+2 >= len(seg) || !isHex(seg[j+1]) || !isHex(seg[j+2]) {
					return malformed("the path before /l/ has a \"%%\" that is not followed by two hex digits")
				}
				j += 2
			default:
				return malformed("the path before /l/ has the character %q, which a URL path cannot hold unescaped", rune(c))
			}
		}
	}
	return nil
}

func isAlnum(c byte) bool {
	return ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') || ('0' <= c && c <= '9')
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}
