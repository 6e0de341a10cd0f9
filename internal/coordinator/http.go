package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/metadb"
)

// statusClientClosed answers a request whose client went away.
const statusClientClosed = 499

// maxBody is the largest request body the API reads, but for journal
// commits, which may carry a few hundred entries (maxCommitBody).
const (
	maxBody       = 1 << 20
	maxCommitBody = 16 << 20
)

// loginHint is the hint of every 401 on an authenticated call.
const loginHint = "run `nuage login`"

// httpError is an API error: an HTTP status and the JSON body.
type httpError struct {
	status int
	body   api.Error
}

func (e *httpError) Error() string { return e.body.Error }

func badRequest(format string, args ...any) *httpError {
	return &httpError{http.StatusBadRequest, api.Error{Error: fmt.Sprintf(format, args...), Code: api.CodeBadRequest}}
}

func notFound(msg string) *httpError {
	return &httpError{http.StatusNotFound, api.Error{Error: msg, Code: api.CodeNotFound}}
}

func conflict(msg, hint string) *httpError {
	return &httpError{http.StatusConflict, api.Error{Error: msg, Code: api.CodeConflict, Hint: hint}}
}

// writeJSON answers 200 with v as JSON.
func writeJSON(w http.ResponseWriter, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only API types are marshalled; they always encode.
		http.Error(w, `{"error":"internal error","code":"internal"}`, http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, e api.Error) {
	b, _ := json.Marshal(e)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", fmt.Sprint(e.RetryAfter))
	}
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// fail answers err: an *httpError as it is, a metadb sentinel as its
// status, and anything else as a logged 500 whose detail stays in the log.
// what names the thing looked up, for 404 messages.
func (c *Coordinator) fail(w http.ResponseWriter, r *http.Request, err error, what string) {
	var he *httpError
	switch {
	case errors.As(err, &he):
		writeError(w, he.status, he.body)
	case errors.Is(err, metadb.ErrNotFound):
		writeError(w, http.StatusNotFound, api.Error{Error: what + " not found", Code: api.CodeNotFound})
	case errors.Is(err, metadb.ErrExists):
		writeError(w, http.StatusConflict, api.Error{Error: what + " already exists", Code: api.CodeExists})
	case errors.Is(err, metadb.ErrConflict):
		writeError(w, http.StatusConflict, api.Error{Error: "the request conflicts with the current state of " + what, Code: api.CodeConflict})
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		// The client went away; nobody reads the answer. 499 is the
		// customary "client closed request" status.
		writeError(w, statusClientClosed, api.Error{Error: "request cancelled", Code: api.CodeInternal})
	default:
		c.log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		writeError(w, http.StatusInternalServerError, api.Error{
			Error: "internal error", Code: api.CodeInternal,
			Hint: "try again later; if it persists, tell the coordinator's operator",
		})
	}
}

// decode reads a JSON body of at most maxBody bytes into v, refusing
// unknown fields and trailing data. An empty body decodes as {} when
// allowEmpty is set.
func decode(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool) *httpError {
	return decodeLimit(w, r, v, allowEmpty, maxBody)
}

// decodeLimit is decode with a body limit of limit bytes.
func decodeLimit(w http.ResponseWriter, r *http.Request, v any, allowEmpty bool, limit int64) *httpError {
	tooLarge := &httpError{http.StatusRequestEntityTooLarge, api.Error{
		Error: fmt.Sprintf("request body is larger than %d bytes", limit), Code: api.CodeBadRequest}}
	if r.ContentLength > limit {
		return tooLarge // refused before reading a byte
	}
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		var extra json.RawMessage
		if dec.Decode(&extra) != io.EOF {
			return badRequest("request body has data after the JSON object")
		}
		return nil
	}
	var (
		syn  *json.SyntaxError
		typ  *json.UnmarshalTypeError
		size *http.MaxBytesError
		b64  base64.CorruptInputError
	)
	switch {
	case errors.Is(err, io.EOF):
		if allowEmpty {
			return nil
		}
		return badRequest("request body is empty, want a JSON object")
	case errors.As(err, &size):
		return tooLarge
	case errors.As(err, &syn):
		return badRequest("request body is not valid JSON (at byte %d): %v", syn.Offset, err)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("request body is truncated JSON")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return badRequest("request body must be a JSON object, not %s", typ.Value)
		}
		return badRequest("field %q must be %s, not %s", typ.Field, jsonKind(typ.Type.Kind().String()), typ.Value)
	case errors.As(err, &b64):
		return badRequest("a binary field is not valid base64 (at byte %d)", int64(b64))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return badRequest("unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return badRequest("invalid request body: %v", err)
	}
}

func jsonKind(k string) string {
	switch k {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "an integer in range"
	case "slice", "array":
		return "an array or base64 string"
	case "struct", "map":
		return "an object"
	}
	return "a " + k
}

// parseID16 parses a 32-character lowercase hex ID; zero is not an ID.
func parseID16(s, field string) (metadb.ID16, *httpError) {
	var id metadb.ID16
	if len(s) != 2*len(id) {
		return id, badRequest("%s must be 32 hex characters, got %d", field, len(s))
	}
	if strings.ToLower(s) != s {
		return id, badRequest("%s must be lowercase hex", field)
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return id, badRequest("%s is not hex: %v", field, err)
	}
	if id == (metadb.ID16{}) {
		return id, badRequest("%s must not be all zeros", field)
	}
	return id, nil
}

func hexID(id metadb.ID16) string {
	if id == (metadb.ID16{}) {
		return ""
	}
	return hex.EncodeToString(id[:])
}

// session is the authenticated caller of a request.
type session struct {
	account   metadb.ID16
	tokenHash [32]byte
	expires   time.Time
	// token is the API token the session was opened with; nil for
	// password logins.
	token *metadb.Token

	// The scope of a link or share session (spec §8 "Scoped sessions"):
	// the session acts as account restricted to the subtree of root. A
	// full session has a zero root. write is set for read-write share
	// sessions; share or link names what the session was opened for;
	// downloaded records whether a link session was counted as a download.
	// shareKey is the share's current write key (zero for read-only).
	root       metadb.ID16
	write      bool
	share      metadb.ID16
	link       metadb.ID16
	downloaded bool
	shareKey   metadb.ID16
}

// viaToken reports whether the session was opened with an API token.
func (s session) viaToken() bool { return s.token != nil }

// scoped reports whether the session is a link or share session.
func (s session) scoped() bool { return s.root != (metadb.ID16{}) }

// authed wraps h so that it runs only with a valid bearer session of the
// whole account: a link or share session is answered 403 out_of_scope.
// Every call is full-session only unless it is registered with scoped.
func (c *Coordinator) authed(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return c.scoped(func(w http.ResponseWriter, r *http.Request, s session) {
		if s.scoped() {
			c.fail(w, r, outOfScope(s, "this call"), "")
			return
		}
		h(w, r, s)
	})
}

// scoped wraps h so that it runs with any valid bearer session, full or
// scoped; h itself must confine a scoped session to its subtree.
//
// A password session's bearer token is 32 random bytes, and so are a link
// or share session's. A token session's is the API token's ID followed by
// 32 random bytes: the session is still looked up by the hash of the
// whole, so the ID cannot be forged, and each request checks that the
// token still exists, so revoking a token ends every session opened with
// it at once. Likewise a share session reads its share (revoked: the
// session ends; its level may have changed) and a link session its link
// (an expired link ends the session), one database read each.
func (c *Coordinator) scoped(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		unauth := func(msg, hint string) {
			writeError(w, http.StatusUnauthorized, api.Error{Error: msg, Code: api.CodeUnauthorized, Hint: hint})
		}
		authz := r.Header.Get("Authorization")
		tok, ok := strings.CutPrefix(authz, "Bearer ")
		if !ok || tok == "" {
			unauth("not logged in: missing bearer token", loginHint)
			return
		}
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimSpace(tok))
		if err != nil || (len(raw) != sessionTokenSize && len(raw) != tokenSessionSize) {
			unauth("invalid session token", loginHint)
			return
		}
		s := session{tokenHash: sha256.Sum256(raw)}
		st, err := c.db.SessionByToken(r.Context(), s.tokenHash)
		if errors.Is(err, metadb.ErrNotFound) || (err == nil && !c.now().Before(st.Expires)) {
			unauth("session expired, logged out or revoked", loginHint)
			return
		}
		if err != nil {
			c.fail(w, r, err, "session")
			return
		}
		s.account, s.expires = st.Account, st.Expires
		s.root, s.write, s.share, s.link, s.downloaded = st.Root, st.Write, st.Share, st.Link, st.Downloaded
		switch {
		case len(raw) == tokenSessionSize:
			if s.scoped() {
				unauth("invalid session token", loginHint)
				return
			}
			var id metadb.ID16
			copy(id[:], raw)
			t, err := c.db.Token(r.Context(), id)
			if errors.Is(err, metadb.ErrNotFound) || (err == nil && t.Account != st.Account) {
				unauth("the API token of this session was revoked", tokenHint)
				return
			}
			if err != nil {
				c.fail(w, r, err, "token")
				return
			}
			s.token = &t
		case s.link != (metadb.ID16{}):
			if err := c.checkLinkSession(r, &s); err != nil {
				c.fail(w, r, err, "link")
				return
			}
		case s.share != (metadb.ID16{}):
			if err := c.checkShareSession(r, &s); err != nil {
				c.fail(w, r, err, "share")
				return
			}
		case s.scoped():
			// A scoped session names what it was opened for; one that
			// names nothing cannot be checked, so it is not honoured.
			c.fail(w, r, fmt.Errorf("session of account %x has a scope but no link or share", s.account), "session")
			return
		}
		h(w, r, s)
	}
}

// passwordOnly is authed for calls an API token may not make: changing the
// password, the recovery key, two-factor login or the tokens themselves.
func (c *Coordinator) passwordOnly(h func(http.ResponseWriter, *http.Request, session)) http.HandlerFunc {
	return c.authed(func(w http.ResponseWriter, r *http.Request, s session) {
		if s.viaToken() {
			writeError(w, http.StatusUnauthorized, api.Error{
				Error: "an API token cannot change the password, the recovery key, two-factor login or API tokens",
				Code:  api.CodeUnauthorized, Hint: "log in with the password",
			})
			return
		}
		h(w, r, s)
	})
}

// tooMany is the answer to a rate-limited call that must wait.
func tooMany(wait time.Duration, hint string) *httpError {
	secs := int((wait + time.Second - 1) / time.Second)
	return &httpError{http.StatusTooManyRequests, api.Error{
		Error: fmt.Sprintf("too many attempts, retry in %d s", secs), Code: api.CodeTooMany,
		Hint: hint, RetryAfter: secs,
	}}
}

// statusWriter records the status a handler answered.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// logRequests logs every request at debug level and every 5xx at error level.
func (c *Coordinator) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		sw.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(sw, r)
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		level := slog.LevelDebug
		if sw.status >= 500 {
			level = slog.LevelError
		}
		c.log.LogAttrs(r.Context(), level, "request",
			slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("took", time.Since(start)),
			slog.String("remote", r.RemoteAddr))
	})
}

func (c *Coordinator) handleNotFound(w http.ResponseWriter, r *http.Request) {
	writeError(w, http.StatusNotFound, api.Error{
		Error: fmt.Sprintf("no such call: %s %s", r.Method, r.URL.Path), Code: api.CodeNotFound,
		Hint: "check that the client and the coordinator speak the same API version (" + Version + ")",
	})
}

func (c *Coordinator) handleRoot(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "nuage coordinator (API %s at %s)\ncoordinator ID %s\n", Version, api.Prefix, c.id.ID())
}
