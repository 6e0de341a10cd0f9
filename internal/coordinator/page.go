package coordinator

import (
	"bytes"
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/nuage-storage/nuage/internal/api"
)

// linkPageCSP forbids the link page every resource and script: it is
// self-contained, with inline style only.
const linkPageCSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// linkPage is the page at GET /l/{id} (spec §10). It holds no key and no
// entry data: the key is in the URL fragment, which browsers do not send.
var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>{{.Title}} · nuage</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:40em;margin:2em auto;padding:0 1em;color:#222;background:#fff}
h1{font-size:1.4em}
pre,code{font:14px ui-monospace,monospace;background:#f3f3f3;border-radius:4px}
pre{padding:.8em;overflow-x:auto}
code{padding:.1em .3em}
.note{color:#555;font-size:.9em}
</style>
</head>
<body>
<h1>{{.Title}}</h1>
{{if .OK -}}
<p>This is an end-to-end encrypted <strong>nuage</strong> link{{if .Password}}, protected by a password{{end}}.</p>
<p>The file or folder it points to is encrypted with a key that travels only in the link itself, in the part after the <code>#</code>. Your browser never sends that part to this server, so neither this server nor this page can read what is shared.</p>
<p>To fetch it, run the nuage command-line tool with the <em>full</em> link you were given, including everything after the <code>#</code>, in single quotes:</p>
<pre>nuage get '&lt;the full link&gt;'</pre>
<p class="note">Paste the link exactly as you received it: this page cannot show it to you, because the part after the <code>#</code> never reaches the server.{{if .Password}} nuage asks for the password.{{end}}{{if .Expires}} The link expires on {{.Expires}}.{{end}}</p>
{{- else -}}
<p>{{.Message}}</p>
<p class="note">{{.Hint}}</p>
{{- end}}
<p class="note">Link {{.ID}}</p>
</body>
</html>
`))

// linkPageData fills linkPage.
type linkPageData struct {
	Title    string
	OK       bool
	Password bool
	Expires  string
	Message  string
	Hint     string
	ID       string
}

// handleLinkPage answers GET /l/{id}: a small HTML page saying how to
// fetch the link with the CLI, or why it cannot be opened (404, 410).
func (c *Coordinator) handleLinkPage(w http.ResponseWriter, r *http.Request) {
	d := linkPageData{Title: "Encrypted link", OK: true, ID: r.PathValue("id")}
	status := http.StatusOK
	l, _, err := c.publicLink(r)
	var he *httpError
	switch {
	case err == nil:
		d.Password = l.KDF != nil
		if !l.Expires.IsZero() {
			d.Expires = l.Expires.UTC().Format(time.RFC1123)
		}
	case errors.As(err, &he):
		status, d.OK = he.status, false
		d.Title, d.Message, d.Hint = "Link unavailable", he.body.Error, he.body.Hint
		switch he.body.Code {
		case api.CodeBadRequest:
			// Not an ID: answered as an unknown link.
			status, d.Title, d.Message, d.Hint = http.StatusNotFound, "No such link", "This is not a nuage link.", "Check that the link was copied in full."
		case api.CodeNotFound:
			d.Title, d.Message = "No such link", "There is no such link on this server."
		}
	default:
		c.log.Error("link page", "err", err)
		status, d.OK = http.StatusInternalServerError, false
		d.Title, d.Message, d.Hint = "Error", "The server could not look the link up.", "Try again later."
	}
	var b bytes.Buffer
	if err := linkPage.Execute(&b, d); err != nil {
		c.log.Error("link page", "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", linkPageCSP)
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(b.Bytes())
	}
}
