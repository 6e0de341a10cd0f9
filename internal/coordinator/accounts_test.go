package coordinator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/crypto/keys"
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/journal"
)

func TestNewConfig(t *testing.T) {
	db := openDB(t)
	ident, err := identity.Generate()
	if err != nil {
		t.Fatal(err)
	}
	ok := Config{DB: db, Identity: ident, Secret: testSecret()}
	tests := []struct {
		name string
		mod  func(*Config)
		ok   bool
	}{
		{"defaults", func(*Config) {}, true},
		{"no db", func(c *Config) { c.DB = nil }, false},
		{"no identity", func(c *Config) { c.Identity = nil }, false},
		{"short secret", func(c *Config) { c.Secret = c.Secret[:31] }, false},
		{"k > n", func(c *Config) { c.Scheme = api.Scheme{K: 5, N: 4} }, false},
		{"k = 0", func(c *Config) { c.Scheme = api.Scheme{K: 0, N: 4} }, false},
		{"n > 256", func(c *Config) { c.Scheme = api.Scheme{K: 2, N: 257} }, false},
		{"success < k", func(c *Config) { c.Scheme = api.Scheme{K: 4, N: 6, Success: 3} }, false},
		{"success ok", func(c *Config) { c.Scheme = api.Scheme{K: 4, N: 6, Success: 5} }, true},
		{"segment not block multiple", func(c *Config) { c.SegmentSize = BlockSize + 1 }, false},
		{"negative segment", func(c *Config) { c.SegmentSize = -BlockSize }, false},
		{"negative inline", func(c *Config) { c.InlineMax = -1 }, false},
		{"negative quota", func(c *Config) { c.Quota = -1 }, false},
		{"quota", func(c *Config) { c.Quota = 1 << 30 }, true},
		{"negative ttl", func(c *Config) { c.SessionTTL = -time.Second }, false},
		{"sub-second order ttl", func(c *Config) { c.OrderTTL = time.Millisecond }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			c, err := New(cfg)
			if tt.ok != (err == nil) {
				t.Fatalf("New: err = %v, want ok=%v", err, tt.ok)
			}
			if err == nil && (c.scheme.K == 0 || c.segmentSize != DefaultSegmentSize || c.orderTTL != DefaultOrderTTL) {
				t.Fatalf("defaults not applied: %+v", c.scheme)
			}
		})
	}
}

func TestInfoAndRoot(t *testing.T) {
	e := newEnv(t, nil)
	var info api.Info
	e.call("GET", "/info", "", nil, http.StatusOK, &info)
	want := api.Info{Version: Version, Coordinator: e.id.ID(), Scheme: DefaultScheme, SegmentSize: 4 * BlockSize, InlineMax: DefaultInlineMax}
	if info != want {
		t.Fatalf("info = %+v, want %+v", info, want)
	}
	resp, err := e.srv.Client().Get(e.srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(buf.String(), "nuage coordinator") || !strings.Contains(buf.String(), e.id.ID().String()) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain") {
		t.Fatalf("GET / = %d %q", resp.StatusCode, buf.String())
	}
	e.expectError("GET", "/nope", "", nil, http.StatusNotFound, api.CodeNotFound, "no such call")
	e.expectError("PUT", "/info", "", nil, http.StatusNotFound, api.CodeNotFound, "no such call")
}

func TestSignupLoginLogout(t *testing.T) {
	e := newEnv(t, nil)
	req, auth, _ := signupRequest(t, "  Alice@Example.ORG ")
	var s api.Session
	e.call("POST", "/signup", "", req, http.StatusOK, &s)
	if s.Email != "alice@example.org" || s.Account != req.Account || s.Token == "" ||
		!bytes.Equal(s.WrappedMasterKey, req.WrappedMasterKey) || s.Root.ID != req.Root.ID || s.Root.Kind != "folder" ||
		!bytes.Equal(s.Root.Meta, req.Root.Meta) || s.KDF.Time != req.KDF.Time || !bytes.Equal(s.KDF.Salt, req.KDF.Salt) ||
		s.Trash.ID != req.Trash.ID || !bytes.Equal(s.Trash.WrappedKey, req.Trash.WrappedKey) || s.Trash.Parent != "" ||
		!bytes.Equal(s.PublicKey, req.PublicKey) || !bytes.Equal(s.WrappedPrivateKey, req.WrappedPrivateKey) ||
		!bytes.Equal(s.SigningKey, req.SigningKey) || !bytes.Equal(s.WrappedSigningKey, req.WrappedSigningKey) ||
		s.TOTP || s.TokenID != "" {
		t.Fatalf("signup session = %+v", s)
	}
	// Record 1 is the journal's first and only record.
	var jr api.JournalRecords
	e.call("GET", "/journal", s.Token, nil, http.StatusOK, &jr)
	if jr.Latest != 1 || len(jr.Records) != 1 || !bytes.Equal(jr.Records[0], req.Journal) {
		t.Fatalf("journal after signup = %+v", jr)
	}
	if want := e.clock.Now().Add(DefaultSessionTTL).Unix(); s.Expires != want {
		t.Fatalf("expires %d, want %d", s.Expires, want)
	}
	// The stored verifier is HMAC-SHA-256(auth key, "nuage v1 verifier"), not the key.
	acct, err := e.db.AccountByEmail(t.Context(), "alice@example.org")
	if err != nil {
		t.Fatal(err)
	}
	m := hmac.New(sha256.New, auth)
	m.Write([]byte("nuage v1 verifier"))
	if !bytes.Equal(acct.Verifier, m.Sum(nil)) || bytes.Contains(acct.Verifier, auth) {
		t.Fatalf("stored verifier %x is not the spec's HMAC", acct.Verifier)
	}

	// The session works.
	var root api.Entry
	e.call("GET", "/entries/"+req.Root.ID, s.Token, nil, http.StatusOK, &root)
	if root.ID != req.Root.ID || root.Parent != "" || root.Created == 0 {
		t.Fatalf("root = %+v", root)
	}

	// Duplicate e-mail, in another case.
	dup, _, _ := signupRequest(t, "ALICE@example.org")
	ae := e.expectError("POST", "/signup", "", dup, http.StatusConflict, api.CodeExists, "an account with this e-mail already exists")
	if ae.Hint != "log in instead" {
		t.Fatalf("hint %q", ae.Hint)
	}

	// Prelogin: the account's KDF, and a deterministic fake for strangers.
	var pre api.PreloginResponse
	e.call("POST", "/prelogin", "", api.PreloginRequest{Email: "alice@EXAMPLE.org"}, http.StatusOK, &pre)
	if !bytes.Equal(pre.KDF.Salt, req.KDF.Salt) || pre.KDF.MemoryKiB != req.KDF.MemoryKiB {
		t.Fatalf("prelogin = %+v, want %+v", pre.KDF, req.KDF)
	}
	var fake1, fake2, fake3 api.PreloginResponse
	e.call("POST", "/prelogin", "", api.PreloginRequest{Email: "bob@example.org"}, http.StatusOK, &fake1)
	e.call("POST", "/prelogin", "", api.PreloginRequest{Email: "Bob@example.org "}, http.StatusOK, &fake2)
	e.call("POST", "/prelogin", "", api.PreloginRequest{Email: "carol@example.org"}, http.StatusOK, &fake3)
	if !bytes.Equal(fake1.KDF.Salt, fake2.KDF.Salt) || bytes.Equal(fake1.KDF.Salt, fake3.KDF.Salt) || len(fake1.KDF.Salt) != 16 {
		t.Fatalf("fake salts not deterministic per e-mail: %x %x %x", fake1.KDF.Salt, fake2.KDF.Salt, fake3.KDF.Salt)
	}
	if k := fake1.KDF; k.Alg != "argon2id" || k.Time != keys.DefaultTime || k.MemoryKiB != keys.DefaultMemoryKiB || k.Threads != keys.DefaultThreads {
		t.Fatalf("fake KDF params %+v", k)
	}
	// Another coordinator with the same secret gives the same fake salt.
	e2 := newEnv(t, nil)
	var fake4 api.PreloginResponse
	e2.call("POST", "/prelogin", "", api.PreloginRequest{Email: "bob@example.org"}, http.StatusOK, &fake4)
	if !bytes.Equal(fake1.KDF.Salt, fake4.KDF.Salt) {
		t.Fatal("fake salt depends on more than the secret and the e-mail")
	}
	e.expectError("POST", "/prelogin", "", api.PreloginRequest{Email: "nobody"}, http.StatusBadRequest, api.CodeBadRequest, "e-mail")

	// Login.
	var s2 api.Session
	e.call("POST", "/login", "", api.LoginRequest{Email: "ALICE@example.org", AuthKey: auth}, http.StatusOK, &s2)
	if s2.Token == s.Token || s2.Account != req.Account || s2.Root.ID != req.Root.ID || !bytes.Equal(s2.KDF.Salt, req.KDF.Salt) ||
		s2.Trash.ID != req.Trash.ID || !bytes.Equal(s2.PublicKey, req.PublicKey) || !bytes.Equal(s2.WrappedPrivateKey, req.WrappedPrivateKey) ||
		!bytes.Equal(s2.SigningKey, req.SigningKey) || !bytes.Equal(s2.WrappedSigningKey, req.WrappedSigningKey) {
		t.Fatalf("login session = %+v", s2)
	}
	wrong := e.expectError("POST", "/login", "", api.LoginRequest{Email: "alice@example.org", AuthKey: randBytes(32)},
		http.StatusUnauthorized, api.CodeUnauthorized, "wrong e-mail or password")
	unknown := e.expectError("POST", "/login", "", api.LoginRequest{Email: "zed@example.org", AuthKey: auth},
		http.StatusUnauthorized, api.CodeUnauthorized, "wrong e-mail or password")
	if wrong != unknown {
		t.Fatalf("unknown e-mail answered %+v, wrong password %+v", unknown, wrong)
	}
	e.expectError("POST", "/login", "", api.LoginRequest{Email: "alice@example.org", AuthKey: auth[:31]},
		http.StatusUnauthorized, api.CodeUnauthorized, "wrong e-mail or password")

	// Logout ends only that session.
	e.call("POST", "/logout", s2.Token, nil, http.StatusNoContent, nil)
	ae = e.expectError("GET", "/usage", s2.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	if ae.Hint != loginHint {
		t.Fatalf("hint %q", ae.Hint)
	}
	e.expectError("POST", "/logout", s2.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	e.call("GET", "/usage", s.Token, nil, http.StatusOK, nil)

	// Sessions expire.
	e.clock.Advance(DefaultSessionTTL)
	e.expectError("GET", "/usage", s.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "expired")
}

func TestAuthHeader(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("a@b.c")
	for _, h := range []string{"", "Bearer", "Bearer ", "Basic " + u.token(), "Bearer !!!", "Bearer " + u.token()[:10],
		"Bearer " + strings.Repeat("A", 43), "bearer " + u.token()} {
		req, _ := http.NewRequest("GET", e.srv.URL+api.Prefix+"/usage", nil)
		if h != "" {
			req.Header.Set("Authorization", h)
		}
		resp, err := e.srv.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("Authorization %q: status %d, want 401", h, resp.StatusCode)
		}
	}
}

func TestSignupValidation(t *testing.T) {
	e := newEnv(t, nil)
	type mod func(t *testing.T, r *api.SignupRequest)
	simple := func(f func(r *api.SignupRequest)) mod { return func(_ *testing.T, r *api.SignupRequest) { f(r) } }
	// folder changes a top-level folder and re-seals record 1, so that
	// only the folder is wrong.
	folder := func(f func(r *api.SignupRequest)) mod {
		return func(t *testing.T, r *api.SignupRequest) { f(r); resealSignup(t, r) }
	}
	var zero [32]byte
	rec := func(f func(r *api.SignupRequest) []byte) mod {
		return func(_ *testing.T, r *api.SignupRequest) { r.Journal = f(r) }
	}
	tests := []struct {
		name   string
		mod    mod
		substr string
	}{
		{"empty e-mail", simple(func(r *api.SignupRequest) { r.Email = " " }), "e-mail is empty"},
		{"no at", simple(func(r *api.SignupRequest) { r.Email = "alice.example.org" }), "name@domain"},
		{"at first", simple(func(r *api.SignupRequest) { r.Email = "@example.org" }), "name@domain"},
		{"at last", simple(func(r *api.SignupRequest) { r.Email = "alice@" }), "name@domain"},
		{"space", simple(func(r *api.SignupRequest) { r.Email = "al ice@example.org" }), "spaces"},
		{"control", simple(func(r *api.SignupRequest) { r.Email = "al\x01ice@example.org" }), "control"},
		{"long e-mail", simple(func(r *api.SignupRequest) { r.Email = strings.Repeat("a", 250) + "@b.cd" }), "longer than 254"},
		{"account short", simple(func(r *api.SignupRequest) { r.Account = "abcd" }), "account must be 32 hex"},
		{"account upper", simple(func(r *api.SignupRequest) { r.Account = "ABCDEF" + strings.Repeat("0", 26) }), "lowercase"},
		{"account not hex", simple(func(r *api.SignupRequest) { r.Account = strings.Repeat("zz", 16) }), "not hex"},
		{"account zero", simple(func(r *api.SignupRequest) { r.Account = strings.Repeat("00", 16) }), "zeros"},
		{"kdf alg", simple(func(r *api.SignupRequest) { r.KDF.Alg = "scrypt" }), "kdf.alg"},
		{"kdf salt", simple(func(r *api.SignupRequest) { r.KDF.Salt = r.KDF.Salt[:15] }), "salt is 15 bytes"},
		{"kdf t", simple(func(r *api.SignupRequest) { r.KDF.Time = 0 }), "t=0"},
		{"kdf t high", simple(func(r *api.SignupRequest) { r.KDF.Time = 11 }), "t=11"},
		{"kdf m low", simple(func(r *api.SignupRequest) { r.KDF.MemoryKiB = 19455 }), "m=19455"},
		{"kdf m high", simple(func(r *api.SignupRequest) { r.KDF.MemoryKiB = 1<<20 + 1 }), "memory 1048577 KiB"},
		{"kdf p", simple(func(r *api.SignupRequest) { r.KDF.Threads = 0 }), "p=0"},
		{"kdf p high", simple(func(r *api.SignupRequest) { r.KDF.Threads = 17 }), "p=17"},
		{"auth key", simple(func(r *api.SignupRequest) { r.AuthKey = r.AuthKey[:31] }), "auth_key"},
		{"master key", simple(func(r *api.SignupRequest) { r.WrappedMasterKey = randBytes(60) }), "wrapped_master_key"},
		{"public key short", simple(func(r *api.SignupRequest) { r.PublicKey = randBytes(31) }), "public_key must be 32 bytes"},
		{"public key missing", simple(func(r *api.SignupRequest) { r.PublicKey = nil }), "public_key"},
		{"private key", simple(func(r *api.SignupRequest) { r.WrappedPrivateKey = randBytes(62) }), "wrapped_private_key must be 61"},
		{"signing key missing", simple(func(r *api.SignupRequest) { r.SigningKey = nil }), "signing_key must be 32 bytes (Ed25519), got 0"},
		{"signing key long", simple(func(r *api.SignupRequest) { r.SigningKey = randBytes(33) }), "signing_key must be 32"},
		{"wrapped signing key missing", simple(func(r *api.SignupRequest) { r.WrappedSigningKey = nil }), "wrapped_signing_key must be 61"},
		{"wrapped signing key short", simple(func(r *api.SignupRequest) { r.WrappedSigningKey = randBytes(60) }), "wrapped_signing_key must be 61"},
		{"root kind", folder(func(r *api.SignupRequest) { r.Root.Kind = "file" }), "root.kind"},
		{"root bad kind", folder(func(r *api.SignupRequest) { r.Root.Kind = "link" }), "root.kind"},
		{"root parent", folder(func(r *api.SignupRequest) { r.Root.Parent = randHex16() }), "root.parent"},
		{"root name tag", folder(func(r *api.SignupRequest) { r.Root.NameTag = randBytes(16) }), "root.name_tag"},
		{"root objects", folder(func(r *api.SignupRequest) { r.Root.Objects = []string{randHex16()} }), "root.objects"},
		{"root id", simple(func(r *api.SignupRequest) { r.Root.ID = "x" }), "root.id"},
		{"root wrapped key", folder(func(r *api.SignupRequest) { r.Root.WrappedKey = randBytes(62) }), "root.wrapped_key"},
		{"root meta empty", folder(func(r *api.SignupRequest) { r.Root.Meta = nil }), "root.meta is empty"},
		{"root meta big", folder(func(r *api.SignupRequest) { r.Root.Meta = make([]byte, MaxMetaSize+1) }), "root.meta"},
		{"trash missing", simple(func(r *api.SignupRequest) { r.Trash = api.Entry{} }), "trash.id"},
		{"trash kind", folder(func(r *api.SignupRequest) { r.Trash.Kind = "file" }), "trash.kind"},
		{"trash parent", folder(func(r *api.SignupRequest) { r.Trash.Parent = r.Root.ID }), "trash.parent"},
		{"trash wrapped key", folder(func(r *api.SignupRequest) { r.Trash.WrappedKey = nil }), "trash.wrapped_key"},
		{"trash is root", folder(func(r *api.SignupRequest) { r.Trash.ID = r.Root.ID }), "must differ"},
		{"journal missing", simple(func(r *api.SignupRequest) { r.Journal = nil }), "journal: malformed record"},
		{"journal truncated", simple(func(r *api.SignupRequest) { r.Journal = r.Journal[:len(r.Journal)-1] }), "malformed"},
		{"journal seq 2", rec(func(r *api.SignupRequest) []byte {
			return sealRecord(t, zero, 2, [32]byte{1}, []api.Entry{r.Root, r.Trash}, nil)
		}), "journal must be record 1, got seq 2"},
		{"journal without trash", rec(func(r *api.SignupRequest) []byte {
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root}, nil)
		}), "journal: the record has 1 changes, but 2 puts"},
		{"journal extra put", rec(func(r *api.SignupRequest) []byte {
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root, r.Trash, topFolder()}, nil)
		}), "the record has 3 changes"},
		{"journal other folder", rec(func(r *api.SignupRequest) []byte {
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root, topFolder()}, nil)
		}), "is not a change of the record"},
		{"journal delete", rec(func(r *api.SignupRequest) []byte {
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root}, []string{r.Trash.ID})
		}), "is sent as a put"},
		{"journal hash", rec(func(r *api.SignupRequest) []byte {
			other := r.Trash
			other.Meta = randBytes(60)
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root, other}, nil)
		}), "does not match the entry sent"},
		{"journal writer record", rec(func(r *api.SignupRequest) []byte {
			w := journal.Record{Seq: 1, Time: time.Unix(1_700_000_000, 0), KeyID: journal.ID{1}}
			for _, p := range []api.Entry{r.Root, r.Trash} {
				h, _ := journal.EntryHash(p)
				w.Changes = append(w.Changes, journal.Change{Op: journal.Put, Entry: jid(t, p.ID), Hash: h})
			}
			return w.Seal(zero)
		}), "owner record (version 1), not a writer record"},
		{"journal grant", rec(func(r *api.SignupRequest) []byte {
			g := journal.Record{Seq: 1, Time: time.Unix(1_700_000_000, 0)}
			for _, p := range []api.Entry{r.Root, r.Trash} {
				h, _ := journal.EntryHash(p)
				g.Changes = append(g.Changes, journal.Change{Op: journal.Put, Entry: jid(t, p.ID), Hash: h})
			}
			g.Changes = append(g.Changes, journal.Change{Op: journal.Grant, Entry: journal.ID{9}, Parent: jid(t, r.Root.ID)})
			return g.Seal(zero)
		}), "must not grant or revoke write keys"},
		{"journal parent", rec(func(r *api.SignupRequest) []byte {
			child := r.Trash
			child.Parent = r.Root.ID
			return sealRecord(t, zero, 1, zero, []api.Entry{r.Root, child}, nil)
		}), "under parent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _, _ := signupRequest(t, "v@example.org")
			tt.mod(t, &req)
			e.t = t
			e.expectError("POST", "/signup", "", req, http.StatusBadRequest, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	// Nothing was created along the way.
	req, _, _ := signupRequest(t, "v@example.org")
	e.call("POST", "/signup", "", req, http.StatusOK, nil)
	// The root and trash may come in either order in record 1.
	req, _, _ = signupRequest(t, "w@example.org")
	req.Journal = sealRecord(t, zero, 1, zero, []api.Entry{req.Trash, req.Root}, nil)
	e.call("POST", "/signup", "", req, http.StatusOK, nil)
}

func TestSignupRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	for i := range maxSignupsPerIP - 1 {
		e.signup("s" + strconv.Itoa(i) + "@example.org")
	}
	// Invalid requests do not count; a duplicate does (it probes which
	// e-mails exist).
	bad, _, _ := signupRequest(t, "bad@example.org")
	bad.PublicKey = nil
	e.expectError("POST", "/signup", "", bad, http.StatusBadRequest, api.CodeBadRequest, "public_key")
	req, _, _ := signupRequest(t, "s0@example.org")
	e.expectError("POST", "/signup", "", req, http.StatusConflict, api.CodeExists, "already exists")
	req, _, _ = signupRequest(t, "late@example.org")
	ae := e.expectError("POST", "/signup", "", req, http.StatusTooManyRequests, api.CodeTooMany, "too many attempts, retry in 3600 s")
	if ae.RetryAfter != 3600 || !strings.Contains(ae.Hint, "20 times an hour") {
		t.Fatalf("blocked sign-up = %+v", ae)
	}
	// Logins from the same address are not affected.
	e.call("POST", "/login", "", api.LoginRequest{Email: "s1@example.org", AuthKey: randBytes(32)}, http.StatusUnauthorized, nil)
	e.clock.Advance(signupWindow)
	e.call("POST", "/signup", "", req, http.StatusOK, nil)
}

func TestPasswordChange(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("pw@example.org")
	other := e.signup("other@example.org")
	newKDF := api.KDF{Alg: "argon2id", Salt: randBytes(16), Time: 2, MemoryKiB: 32768, Threads: 2}
	newAuth := randBytes(AuthKeySize)
	wrap := randBytes(WrappedKeySize)
	change := api.PasswordChange{AuthKey: u.authKey, KDF: newKDF, NewAuthKey: newAuth, WrappedMasterKey: wrap}

	// Malformed changes are refused before the password is checked.
	for name, mod := range map[string]func(*api.PasswordChange){
		"kdf":       func(c *api.PasswordChange) { c.KDF.Time = 0 },
		"kdf alg":   func(c *api.PasswordChange) { c.KDF.Alg = "pbkdf2" },
		"auth key":  func(c *api.PasswordChange) { c.NewAuthKey = c.NewAuthKey[:16] },
		"wrap":      func(c *api.PasswordChange) { c.WrappedMasterKey = nil },
		"wrap long": func(c *api.PasswordChange) { c.WrappedMasterKey = randBytes(62) },
	} {
		c := change
		mod(&c)
		e.t = t
		t.Run(name, func(t *testing.T) {
			e.t = t
			e.expectError("POST", "/account/password", u.token(), c, http.StatusBadRequest, api.CodeBadRequest, "")
		})
	}
	e.t = t
	wrong := change
	wrong.AuthKey = randBytes(AuthKeySize)
	e.expectError("POST", "/account/password", u.token(), wrong, http.StatusUnauthorized, api.CodeUnauthorized, "wrong current password")
	e.expectError("POST", "/account/password", "", change, http.StatusUnauthorized, api.CodeUnauthorized, "not logged in")
	// Nothing changed: the old password still logs in.
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusOK, nil)

	var otherSession api.Session
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusOK, &otherSession)
	e.call("GET", "/usage", otherSession.Token, nil, http.StatusOK, nil)
	e.call("POST", "/account/password", u.token(), change, http.StatusNoContent, nil)
	// The session that changed it stays valid, every other one ends; the
	// new password logs in with the new KDF and wrap; the old one no longer does.
	e.call("GET", "/usage", u.token(), nil, http.StatusOK, nil)
	e.expectError("GET", "/usage", otherSession.Token, nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
	var s api.Session
	e.call("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: newAuth}, http.StatusOK, &s)
	if !bytes.Equal(s.WrappedMasterKey, wrap) || s.KDF.Time != 2 || !bytes.Equal(s.KDF.Salt, newKDF.Salt) {
		t.Fatalf("session after password change = %+v", s)
	}
	var pre api.PreloginResponse
	e.call("POST", "/prelogin", "", api.PreloginRequest{Email: u.email}, http.StatusOK, &pre)
	if !bytes.Equal(pre.KDF.Salt, newKDF.Salt) {
		t.Fatal("prelogin still answers the old KDF")
	}
	e.expectError("POST", "/login", "", api.LoginRequest{Email: u.email, AuthKey: u.authKey}, http.StatusUnauthorized, api.CodeUnauthorized, "wrong")
	// Another account is untouched.
	e.call("POST", "/login", "", api.LoginRequest{Email: other.email, AuthKey: other.authKey}, http.StatusOK, nil)

	// Wrong current passwords are rate limited like logins.
	e.clock.Advance(failureWindow)
	wrong.NewAuthKey = randBytes(AuthKeySize)
	for range maxEmailFailures {
		e.expectError("POST", "/account/password", u.token(), wrong, http.StatusUnauthorized, api.CodeUnauthorized, "wrong current password")
	}
	change.AuthKey = newAuth
	e.expectError("POST", "/account/password", u.token(), change, http.StatusTooManyRequests, api.CodeTooMany, "too many attempts")
	e.clock.Advance(failureWindow)
	e.call("POST", "/account/password", u.token(), change, http.StatusNoContent, nil)
}

func TestAccount(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("acct@example.org")
	var s api.Session
	e.call("GET", "/account", u.token(), nil, http.StatusOK, &s)
	want := u.sess
	want.Token = ""
	if s.Token != "" || s.Account != want.Account || s.Email != want.Email || s.Root.ID != want.Root.ID || s.Trash.ID != want.Trash.ID ||
		!bytes.Equal(s.PublicKey, want.PublicKey) || !bytes.Equal(s.WrappedPrivateKey, want.WrappedPrivateKey) ||
		!bytes.Equal(s.SigningKey, want.SigningKey) || !bytes.Equal(s.WrappedSigningKey, want.WrappedSigningKey) || len(s.SigningKey) != SigningKeySize ||
		!bytes.Equal(s.WrappedMasterKey, want.WrappedMasterKey) || s.Expires != want.Expires || s.TOTP || !bytes.Equal(s.KDF.Salt, want.KDF.Salt) {
		t.Fatalf("GET /account = %+v, want %+v", s, want)
	}
	e.expectError("GET", "/account", "", nil, http.StatusUnauthorized, api.CodeUnauthorized, "")
}

func TestBodyDecoding(t *testing.T) {
	e := newEnv(t, nil)
	tests := []struct {
		name   string
		body   string
		status int
		substr string
	}{
		{"empty", "", 400, "empty"},
		{"not json", "hello", 400, "not valid JSON"},
		{"truncated", `{"email":`, 400, "truncated"},
		{"array", `[]`, 400, "JSON object"},
		{"unknown field", `{"email":"a@b.c","password":"x"}`, 400, `unknown field "password"`},
		{"wrong type", `{"email":5}`, 400, `field "email"`},
		{"trailing", `{"email":"a@b.c"} {}`, 400, "after the JSON object"},
		{"too big", `{"email":"` + strings.Repeat("a", maxBody) + `"}`, 413, "larger than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.t = t
			e.expectError("POST", "/prelogin", "", tt.body, tt.status, api.CodeBadRequest, tt.substr)
		})
	}
	e.t = t
	// A body of unknown length is cut at the limit while it is read.
	big := `{"email":"` + strings.Repeat("a", maxBody) + `"}`
	req := httptest.NewRequest("POST", api.Prefix+"/prelogin", io.MultiReader(strings.NewReader(big)))
	req.ContentLength = -1
	rec := httptest.NewRecorder()
	e.c.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(rec.Body.String(), "larger than 1048576 bytes") {
		t.Fatalf("streamed oversized body: %d %s", rec.Code, rec.Body.Bytes())
	}
	e.expectError("POST", "/signup", "", `{"auth_key":"!!"}`, 400, api.CodeBadRequest, "base64")
	e.expectError("POST", "/nodes/checkin", "", `{"node":"zz"}`, 400, api.CodeBadRequest, "malformed ID")
	e.expectError("POST", "/nodes/checkin", "", `{"capacity":1.5}`, 400, api.CodeBadRequest, `field "capacity"`)
}

func TestLoginRateLimit(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("rate@example.org")
	bad := api.LoginRequest{Email: u.email, AuthKey: randBytes(32)}
	good := api.LoginRequest{Email: u.email, AuthKey: u.authKey}

	// A success resets the account's count.
	for range maxEmailFailures - 1 {
		e.expectError("POST", "/login", "", bad, 401, api.CodeUnauthorized, "wrong")
	}
	e.call("POST", "/login", "", good, 200, nil)
	for range maxEmailFailures {
		e.expectError("POST", "/login", "", bad, 401, api.CodeUnauthorized, "wrong")
	}
	// Now even the right password waits.
	r := e.do("POST", "/login", "", good)
	ae := r.apiError(t)
	if r.status != http.StatusTooManyRequests || ae.Code != api.CodeTooMany || ae.RetryAfter != int(failureWindow/time.Second) ||
		ae.Error != "too many attempts, retry in 900 s" || r.header.Get("Retry-After") != "900" {
		t.Fatalf("blocked login = %d %+v", r.status, ae)
	}
	e.clock.Advance(time.Minute)
	ae = e.expectError("POST", "/login", "", good, http.StatusTooManyRequests, api.CodeTooMany, "retry in 840 s")
	if ae.RetryAfter != 840 {
		t.Fatalf("retry after %d", ae.RetryAfter)
	}
	// Another account from the same IP is not blocked by this one's count.
	v := e.signup("other@example.org")
	e.call("POST", "/login", "", api.LoginRequest{Email: v.email, AuthKey: v.authKey}, 200, nil)
	e.clock.Advance(failureWindow)
	e.call("POST", "/login", "", good, 200, nil)

	// Per IP: failures over many e-mails add up.
	e.clock.Advance(failureWindow)
	for i := range maxIPFailures {
		e.expectError("POST", "/login", "", api.LoginRequest{Email: "x" + string(rune('a'+i)) + "@example.org", AuthKey: randBytes(32)},
			401, api.CodeUnauthorized, "wrong")
	}
	e.expectError("POST", "/login", "", good, http.StatusTooManyRequests, api.CodeTooMany, "too many attempts")
	e.clock.Advance(failureWindow + time.Second)
	e.call("POST", "/login", "", good, 200, nil)
}

func TestLimiterBounded(t *testing.T) {
	l := newLimiter(3, time.Minute, 100)
	now := time.Unix(1_000_000, 0)
	for i := range 1000 {
		l.add(strings.Repeat("k", 1+i%7)+string(rune(0x4e00+i)), now)
		if l.size() > 100 {
			t.Fatalf("limiter holds %d keys, bound 100", l.size())
		}
	}
	for range 10 {
		l.add("x", now)
	}
	if got := len(l.keys["x"]); got != 3 {
		t.Fatalf("limiter keeps %d failure times for a key, bound 3", got)
	}
	if l.blocked("x", now) != time.Minute {
		t.Fatalf("blocked = %s", l.blocked("x", now))
	}
	l.prune(now.Add(time.Minute))
	if l.size() != 0 {
		t.Fatalf("prune left %d keys", l.size())
	}
}
