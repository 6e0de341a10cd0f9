package coordinator

import (
	"encoding/base64"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// page fetches path (outside the API prefix) and returns its status,
// headers and body.
func (e *env) page(method, path string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	resp, err := e.srv.Client().Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

func TestLinkPage(t *testing.T) {
	e := newEnv(t, nil)
	u := e.signup("page@example.org")
	dir := newEntry(u.root(), "folder")
	file := newEntry(dir.ID, "file")
	e.mustCommit(u, []api.Entry{dir, file}, nil)
	req, _ := linkRequest(dir.ID)
	req.KDF = &api.LinkKDF{Salt: randBytes(16), T: 3, M: 65536, P: 4}
	req.Expires = e.clock.Now().Add(48 * time.Hour).Unix()
	var l api.Link
	e.call("POST", "/links", u.token(), req, http.StatusOK, &l)

	// secrets are what the page must never show: the owner's and the
	// holder's wraps, the verifier, the target and the owner.
	secrets := []string{dir.ID, file.ID, u.sess.Account, u.email}
	for _, b := range [][]byte{req.Verifier, req.WrappedLinkKey, req.WrappedTargetKey, req.OwnerLinkKey, req.OwnerSecret, req.KDF.Salt, dir.Meta} {
		secrets = append(secrets, base64.StdEncoding.EncodeToString(b), base64.RawURLEncoding.EncodeToString(b))
	}
	check := func(path string, status int, want ...string) string {
		t.Helper()
		got, h, body := e.page("GET", path)
		if got != status {
			t.Fatalf("GET %s: status %d, want %d: %s", path, got, status, body)
		}
		if ct := h.Get("Content-Type"); ct != "text/html; charset=utf-8" {
			t.Fatalf("GET %s: content type %q", path, ct)
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.HasPrefix(csp, "default-src 'none';") || strings.Contains(csp, "script-src") {
			t.Fatalf("GET %s: CSP %q", path, csp)
		}
		if h.Get("Referrer-Policy") != "no-referrer" || h.Get("Cache-Control") != "no-store" || h.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("GET %s: headers %v", path, h)
		}
		for _, bad := range []string{"<script", "src=", "href=", "http://", "https://", "@import", "url("} {
			if strings.Contains(strings.ToLower(body), bad) {
				t.Fatalf("GET %s: page loads or links something (%q):\n%s", path, bad, body)
			}
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Fatalf("GET %s: page shows %q:\n%s", path, s, body)
			}
		}
		for _, w := range want {
			if !strings.Contains(body, w) {
				t.Fatalf("GET %s: page lacks %q:\n%s", path, w, body)
			}
		}
		return body
	}

	body := check("/l/"+l.ID, http.StatusOK,
		"end-to-end encrypted", "after the <code>#</code>", "never sends", "nuage get '&lt;the full link&gt;'",
		"password", time.Unix(req.Expires, 0).UTC().Format(time.RFC1123), l.ID)
	if !strings.HasPrefix(body, "<!doctype html>") {
		t.Fatalf("not an HTML page: %q", body[:min(len(body), 40)])
	}
	// HEAD answers the headers only.
	if status, h, b := e.page("HEAD", "/l/"+l.ID); status != http.StatusOK || b != "" || h.Get("Content-Security-Policy") == "" {
		t.Fatalf("HEAD: %d %q %v", status, b, h)
	}

	// A link without a password says nothing of one.
	plain, _ := e.newLink(u, file.ID, nil)
	body = check("/l/"+plain.ID, http.StatusOK, "nuage get")
	if strings.Contains(body, "password") || strings.Contains(body, "expires") {
		t.Fatalf("page of a plain link mentions a password or an expiry:\n%s", body)
	}

	// Unknown, malformed (escaped), revoked, expired.
	check("/l/"+randHex16(), http.StatusNotFound, "No such link")
	check("/l/"+url.PathEscape(`<script>alert("x")</script>`), http.StatusNotFound, "not a nuage link", "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;")
	check("/l/"+url.PathEscape(`"><b>&amp;`), http.StatusNotFound, "&#34;&gt;&lt;b&gt;&amp;amp;")
	e.call("DELETE", "/links/"+plain.ID, u.token(), nil, http.StatusNoContent, nil)
	check("/l/"+plain.ID, http.StatusGone, "revoked")
	e.clock.Advance(48 * time.Hour)
	check("/l/"+l.ID, http.StatusGone, "expired")
	// Other methods and paths are not pages.
	if status, h, _ := e.page("POST", "/l/"+l.ID); status != http.StatusNotFound || h.Get("Content-Type") != "application/json" {
		t.Fatalf("POST /l/: status %d, %v", status, h)
	}
	if status, _, _ := e.page("GET", "/l/"); status != http.StatusNotFound {
		t.Fatalf("GET /l/: status %d", status)
	}
}
