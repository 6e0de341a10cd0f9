package metadbtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// The sharing groups: signing keys, scoped sessions, links and their
// download counts, shares, write keys granted and revoked by commits, and
// the tree lookups the coordinator scopes sessions with (Ancestors,
// EntriesWithObject).

func normLink(l metadb.Link) metadb.Link {
	l.Created = l.Created.UTC()
	l.Expires = l.Expires.UTC()
	l.Revoked = l.Revoked.UTC()
	return l
}

func normShare(s metadb.Share) metadb.Share {
	s.Created = s.Created.UTC()
	s.Updated = s.Updated.UTC()
	return s
}

// newLink returns (without creating it) a password-protected link of
// account to target, created at created.
func (f *fixture) newLink(account, target metadb.ID16, created time.Time, maxDownloads int64) metadb.Link {
	return metadb.Link{
		ID:               f.id(),
		Account:          account,
		Target:           target,
		Created:          created,
		Expires:          created.Add(7 * 24 * time.Hour),
		MaxDownloads:     maxDownloads,
		Verifier:         bytes.Repeat([]byte{byte(f.seq)}, 32),
		KDF:              []byte(`{"salt":"AAAAAAAAAAAAAAAAAAAAAA","t":3,"m":65536,"p":4}`),
		WrappedLinkKey:   f.bytesFor("wrapped link key"),
		WrappedTargetKey: f.bytesFor("wrapped target key"),
		OwnerLinkKey:     f.bytesFor("owner link key"),
		OwnerSecret:      f.bytesFor("owner secret"),
	}
}

// link creates a link of account to target.
func (f *fixture) link(account, target metadb.ID16, created time.Time, maxDownloads int64) metadb.Link {
	f.t.Helper()
	l := f.newLink(account, target, created, maxDownloads)
	if err := f.db.CreateLink(f.ctx, l); err != nil {
		f.t.Fatalf("CreateLink: %v", err)
	}
	return l
}

// mustLink returns the stored link.
func (f *fixture) mustLink(id metadb.ID16) metadb.Link {
	f.t.Helper()
	l, err := f.db.Link(f.ctx, id)
	if err != nil {
		f.t.Fatalf("Link(%x): %v", id, err)
	}
	return l
}

// newShare returns (without creating it) a share of owner's folder root
// with recipient, read-write with a fresh write key ID if write is set.
func (f *fixture) newShare(owner, root, recipient metadb.ID16, write bool, created time.Time) metadb.Share {
	s := metadb.Share{
		ID:        f.id(),
		Owner:     owner,
		Root:      root,
		Recipient: recipient,
		Write:     write,
		Epoch:     1,
		Sealed:    f.bytesFor("sealed share"),
		Created:   created,
		Updated:   created,
	}
	if write {
		s.KeyID = f.id()
	}
	return s
}

// share creates a share.
func (f *fixture) share(owner, root, recipient metadb.ID16, write bool, created time.Time) metadb.Share {
	f.t.Helper()
	s := f.newShare(owner, root, recipient, write, created)
	if err := f.db.CreateShare(f.ctx, s); err != nil {
		f.t.Fatalf("CreateShare: %v", err)
	}
	return s
}

// session creates a live session of account scoped as scope says (its
// TokenHash and Account are set here), and returns it.
func (f *fixture) session(account metadb.ID16, scope metadb.Session) metadb.Session {
	f.t.Helper()
	scope.TokenHash = sha256.Sum256(f.bytesFor("session token"))
	scope.Account = account
	scope.Expires = time.Now().Add(time.Hour).Truncate(time.Microsecond)
	if err := f.db.CreateSession(f.ctx, scope); err != nil {
		f.t.Fatalf("CreateSession: %v", err)
	}
	return scope
}

// linkSession opens a session for link l.
func (f *fixture) linkSession(l metadb.Link) metadb.Session {
	f.t.Helper()
	return f.session(l.Account, metadb.Session{Root: l.Target, Link: l.ID})
}

// shareSession opens a session for share s.
func (f *fixture) shareSession(s metadb.Share) metadb.Session {
	f.t.Helper()
	return f.session(s.Owner, metadb.Session{Root: s.Root, Share: s.ID, Write: s.Write, Opener: s.Recipient})
}

// live fails the test unless the session is live (want true) or gone.
func (f *fixture) live(t *testing.T, what string, s metadb.Session, want bool) {
	t.Helper()
	got, err := f.db.SessionByToken(f.ctx, s.TokenHash)
	switch {
	case want && err != nil:
		t.Errorf("%s: SessionByToken: %v, want the session", what, err)
	case want:
		same(t, what, got, s, normSession)
	default:
		wantErr(t, what+": SessionByToken", err, metadb.ErrNotFound)
	}
}

var signingKeyTests = []test{
	{"AtSignup", func(t *testing.T, f *fixture) {
		a, root, trash, first := f.newAccount()
		a.SigningKey = bytes.Repeat([]byte{0xed}, 32)
		a.WrappedSigningKey = f.bytesFor("wrapped signing key")
		wantErr(t, "CreateAccount", f.db.CreateAccount(f.ctx, a, root, trash, first), nil)
		got, err := f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "AccountByID", got, a, normAccount)
		got, err = f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "AccountByEmail", got, a, normAccount)
		wantErr(t, "SetSigningKey(has one)", f.db.SetSigningKey(f.ctx, a.ID, bytes.Repeat([]byte{1}, 32), []byte("w")), metadb.ErrExists)
		got, err = f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "account after a refused SetSigningKey", got, a, normAccount)
	}},
	{"SetOnce", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		got, err := f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		if len(got.SigningKey) != 0 || len(got.WrappedSigningKey) != 0 {
			t.Errorf("new account has signing key %x, wrap %x; want none", got.SigningKey, got.WrappedSigningKey)
		}
		want := a
		want.SigningKey = bytes.Repeat([]byte{0xed}, 32)
		want.WrappedSigningKey = f.bytesFor("wrapped signing key")
		wantErr(t, "SetSigningKey", f.db.SetSigningKey(f.ctx, a.ID, want.SigningKey, want.WrappedSigningKey), nil)
		wantErr(t, "SetSigningKey(again)", f.db.SetSigningKey(f.ctx, a.ID, bytes.Repeat([]byte{0xee}, 32), f.bytesFor("other")), metadb.ErrExists)
		got, err = f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "account after SetSigningKey", got, want, normAccount)
		got, err = f.db.AccountByID(f.ctx, b.ID)
		wantErr(t, "AccountByID(other account)", err, nil)
		same(t, "other account", got, b, normAccount)
		wantErr(t, "SetSigningKey(unknown account)", f.db.SetSigningKey(f.ctx, f.id(), want.SigningKey, want.WrappedSigningKey), metadb.ErrNotFound)
		wantErr(t, "SetSigningKey(empty key)", f.db.SetSigningKey(f.ctx, b.ID, nil, []byte("w")), errAny)
		wantErr(t, "SetSigningKey(empty wrap)", f.db.SetSigningKey(f.ctx, b.ID, want.SigningKey, nil), errAny)
		got, err = f.db.AccountByID(f.ctx, b.ID)
		wantErr(t, "AccountByID(other account)", err, nil)
		same(t, "account after refused SetSigningKey calls", got, b, normAccount)
	}},
	{"Concurrent", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		const workers = 8
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				errs[w] = f.db.SetSigningKey(f.ctx, a.ID, bytes.Repeat([]byte{byte(w)}, 32), fmt.Appendf(nil, "wrap %d", w))
			})
		}
		wg.Wait()
		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Errorf("workers %d and %d both set the signing key", winner, w)
			case err == nil:
				winner = w
			case !errors.Is(err, metadb.ErrExists):
				t.Errorf("SetSigningKey(worker %d): %v, want nil or ErrExists", w, err)
			}
		}
		if winner < 0 {
			t.Fatal("no SetSigningKey succeeded")
		}
		got, err := f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		if !bytes.Equal(got.SigningKey, bytes.Repeat([]byte{byte(winner)}, 32)) || string(got.WrappedSigningKey) != fmt.Sprintf("wrap %d", winner) {
			t.Errorf("stored signing key %x / %q is not the winner's (%d)", got.SigningKey, got.WrappedSigningKey, winner)
		}
	}},
}

var scopedSessionTests = []test{
	{"Opener", func(t *testing.T, f *fixture) {
		// A share session belongs to the recipient who opened it: the
		// owner's password change leaves it, the recipient's ends it.
		a, root := f.account()
		b, _ := f.account()
		dir := f.folder(a.ID, root.ID)
		sh := f.share(a.ID, dir.ID, b.ID, true, at(0))
		ss := f.shareSession(sh)
		ls := f.linkSession(f.link(a.ID, dir.ID, at(0), 0))
		got, err := f.db.SessionByToken(f.ctx, ss.TokenHash)
		if err != nil || got.Opener != b.ID || got.Account != a.ID {
			t.Fatalf("SessionByToken = %+v, %v; want opener %x for account %x", got, err, b.ID, a.ID)
		}
		if n, err := f.db.DeleteSessions(f.ctx, a.ID, [32]byte{}); err != nil || n != 1 {
			t.Errorf("DeleteSessions(owner) = %d, %v; want 1 (the link session)", n, err)
		}
		f.live(t, "share session after the owner's DeleteSessions", ss, true)
		f.live(t, "link session after the owner's DeleteSessions", ls, false)
		if n, err := f.db.DeleteSessions(f.ctx, b.ID, [32]byte{}); err != nil || n != 1 {
			t.Errorf("DeleteSessions(recipient) = %d, %v; want 1", n, err)
		}
		f.live(t, "share session after the recipient's DeleteSessions", ss, false)
		for _, bad := range []metadb.Session{
			{Root: dir.ID, Share: sh.ID, Opener: a.ID},
			{Root: dir.ID, Link: f.link(a.ID, dir.ID, at(0), 0).ID, Opener: b.ID},
			{Opener: b.ID},
		} {
			bad.TokenHash = sha256.Sum256(f.bytesFor("bad opener"))
			bad.Account, bad.Expires = a.ID, time.Now().Add(time.Hour)
			if err := f.db.CreateSession(f.ctx, bad); err == nil {
				t.Errorf("CreateSession(%+v) accepted an opener that does not fit", bad)
			}
		}
	}},
	{"RoundTrip", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		dir := f.folder(a.ID, root.ID)
		l := f.link(a.ID, dir.ID, at(0), 0)
		rw := f.share(a.ID, dir.ID, b.ID, true, at(0))
		login := f.session(a.ID, metadb.Session{})
		ls := f.linkSession(l)
		ss := f.shareSession(rw)
		counted := f.session(a.ID, metadb.Session{Root: dir.ID, Link: l.ID, Downloaded: true})
		for _, s := range []metadb.Session{login, ls, ss, counted} {
			f.live(t, "SessionByToken", s, true)
		}
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		s := f.share(a.ID, root.ID, b.ID, false, at(0))
		for _, tc := range []struct {
			name  string
			scope metadb.Session
			want  error
		}{
			{"share and link", metadb.Session{Root: root.ID, Share: s.ID, Link: l.ID}, errAny},
			{"link without root", metadb.Session{Link: l.ID}, errAny},
			{"share without root", metadb.Session{Share: s.ID}, errAny},
			{"writable link session", metadb.Session{Root: root.ID, Link: l.ID, Write: true}, errAny},
			{"unknown link", metadb.Session{Root: root.ID, Link: f.id()}, metadb.ErrNotFound},
			{"unknown share", metadb.Session{Root: root.ID, Share: f.id()}, metadb.ErrNotFound},
		} {
			sess := tc.scope
			sess.TokenHash = sha256.Sum256(f.bytesFor("token"))
			sess.Account = a.ID
			sess.Expires = time.Now().Add(time.Hour)
			wantErr(t, "CreateSession("+tc.name+")", f.db.CreateSession(f.ctx, sess), tc.want)
			_, err := f.db.SessionByToken(f.ctx, sess.TokenHash)
			wantErr(t, "SessionByToken(refused: "+tc.name+")", err, metadb.ErrNotFound)
		}
	}},
	{"RevokedOrDowngraded", func(t *testing.T, f *fixture) {
		// A session opened while the owner revokes a link or downgrades a
		// share must not outlive the change: it is refused.
		a, root := f.account()
		b, _ := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		wantErr(t, "RevokeLink", f.db.RevokeLink(f.ctx, a.ID, l.ID, at(time.Hour)), nil)
		s := f.share(a.ID, root.ID, b.ID, true, at(0))
		down := s
		down.Write, down.KeyID, down.Epoch, down.Sealed = false, metadb.ID16{}, 2, f.bytesFor("resealed")
		wantErr(t, "UpdateShare(read-only)", f.db.UpdateShare(f.ctx, a.ID, down), nil)
		for _, tc := range []struct {
			name  string
			scope metadb.Session
			want  error
		}{
			{"revoked link", metadb.Session{Root: root.ID, Link: l.ID}, metadb.ErrConflict},
			{"writable session of a read-only share", metadb.Session{Root: root.ID, Share: s.ID, Write: true}, metadb.ErrConflict},
			{"read session of a read-only share", metadb.Session{Root: root.ID, Share: s.ID}, nil},
		} {
			sess := tc.scope
			sess.TokenHash = sha256.Sum256(f.bytesFor("token"))
			sess.Account = a.ID
			sess.Expires = time.Now().Add(time.Hour).Truncate(time.Microsecond)
			wantErr(t, "CreateSession("+tc.name+")", f.db.CreateSession(f.ctx, sess), tc.want)
			f.live(t, "session ("+tc.name+")", sess, tc.want == nil)
		}
	}},
	{"DeleteSessionsEndsScoped", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		s := f.share(a.ID, root.ID, b.ID, true, at(0))
		lB := f.link(b.ID, rootB.ID, at(0), 0)
		keep := f.session(a.ID, metadb.Session{})
		other := f.session(a.ID, metadb.Session{})
		ls, ss := f.linkSession(l), f.shareSession(s)
		bLogin, bLink := f.session(b.ID, metadb.Session{}), f.linkSession(lB)
		n, err := f.db.DeleteSessions(f.ctx, a.ID, keep.TokenHash)
		wantErr(t, "DeleteSessions", err, nil)
		if n != 2 {
			t.Errorf("DeleteSessions deleted %d sessions, want 2 (a login and a link session)", n)
		}
		f.live(t, "kept session", keep, true)
		for _, gone := range []metadb.Session{other, ls} {
			f.live(t, "deleted session", gone, false)
		}
		// The recipient's own sessions, the sessions of its links and the
		// share session it opened are its own.
		f.live(t, "recipient's login", bLogin, true)
		f.live(t, "recipient's link session", bLink, true)
		f.live(t, "recipient's share session", ss, true)
		n, err = f.db.DeleteSessions(f.ctx, b.ID, bLogin.TokenHash)
		wantErr(t, "DeleteSessions(recipient)", err, nil)
		if n != 2 {
			t.Errorf("DeleteSessions(recipient) deleted %d sessions, want 2 (a link and a share session)", n)
		}
		f.live(t, "recipient's kept login", bLogin, true)
		for _, gone := range []metadb.Session{bLink, ss} {
			f.live(t, "recipient's deleted session", gone, false)
		}
	}},
	{"DeleteByShareAndLink", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		dir := f.folder(a.ID, root.ID)
		l1, l2 := f.link(a.ID, dir.ID, at(0), 0), f.link(a.ID, dir.ID, at(0), 0)
		s1, s2 := f.share(a.ID, dir.ID, b.ID, false, at(0)), f.share(a.ID, root.ID, b.ID, true, at(0))
		login := f.session(a.ID, metadb.Session{})
		l1a, l1b, l2a := f.linkSession(l1), f.linkSession(l1), f.linkSession(l2)
		s1a, s1b, s2a := f.shareSession(s1), f.shareSession(s1), f.shareSession(s2)

		wantErr(t, "DeleteLinkSessions", f.db.DeleteLinkSessions(f.ctx, l1.ID), nil)
		f.live(t, "session of the link", l1a, false)
		f.live(t, "session of the link", l1b, false)
		for _, s := range []metadb.Session{login, l2a, s1a, s1b, s2a} {
			f.live(t, "other session", s, true)
		}
		wantErr(t, "DeleteShareSessions", f.db.DeleteShareSessions(f.ctx, s1.ID), nil)
		f.live(t, "session of the share", s1a, false)
		f.live(t, "session of the share", s1b, false)
		for _, s := range []metadb.Session{login, l2a, s2a} {
			f.live(t, "other session", s, true)
		}
		// Nothing to end is not an error, nor an unknown share or link.
		wantErr(t, "DeleteLinkSessions(again)", f.db.DeleteLinkSessions(f.ctx, l1.ID), nil)
		wantErr(t, "DeleteShareSessions(again)", f.db.DeleteShareSessions(f.ctx, s1.ID), nil)
		wantErr(t, "DeleteLinkSessions(unknown)", f.db.DeleteLinkSessions(f.ctx, f.id()), nil)
		wantErr(t, "DeleteShareSessions(unknown)", f.db.DeleteShareSessions(f.ctx, f.id()), nil)
		// The share and the link stay.
		same(t, "link after DeleteLinkSessions", f.mustLink(l1.ID), l1, normLink)
		got, err := f.db.Share(f.ctx, s1.ID)
		wantErr(t, "Share after DeleteShareSessions", err, nil)
		same(t, "share after DeleteShareSessions", got, s1, normShare)
	}},
}

var linkTests = []test{
	{"Lifecycle", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		dir := f.folder(a.ID, root.ID)
		// Created out of creation order; two at the same time, ordered by ID.
		late := f.link(a.ID, dir.ID, at(time.Hour), 0)
		early := f.link(a.ID, root.ID, at(time.Minute), 5)
		sameTime2 := f.newLink(a.ID, dir.ID, at(30*time.Minute), 1)
		sameTime1 := f.newLink(a.ID, dir.ID, at(30*time.Minute), 1)
		sameTime1.ID, sameTime2.ID = sameTime2.ID, sameTime1.ID // 1 has the smaller ID, created second
		for _, l := range []metadb.Link{sameTime2, sameTime1} {
			wantErr(t, "CreateLink", f.db.CreateLink(f.ctx, l), nil)
		}
		noPassword := f.newLink(a.ID, dir.ID, at(2*time.Hour), 0)
		noPassword.KDF, noPassword.Expires = nil, time.Time{}
		wantErr(t, "CreateLink(no password, no expiry)", f.db.CreateLink(f.ctx, noPassword), nil)
		lb := f.link(b.ID, rootB.ID, at(0), 0)

		for _, want := range []metadb.Link{late, early, sameTime1, sameTime2, noPassword, lb} {
			same(t, "Link", f.mustLink(want.ID), want, normLink)
		}
		ls, err := f.db.Links(f.ctx, a.ID)
		wantErr(t, "Links", err, nil)
		sameList(t, "Links", ls, []metadb.Link{early, sameTime1, sameTime2, late, noPassword}, normLink)
		ls, err = f.db.Links(f.ctx, b.ID)
		wantErr(t, "Links(b)", err, nil)
		sameList(t, "Links(b)", ls, []metadb.Link{lb}, normLink)
		ls, err = f.db.Links(f.ctx, f.id())
		wantErr(t, "Links(unknown account)", err, nil)
		if len(ls) != 0 {
			t.Errorf("Links(unknown account) = %d links", len(ls))
		}
		_, err = f.db.Link(f.ctx, f.id())
		wantErr(t, "Link(unknown)", err, metadb.ErrNotFound)
	}},
	{"Duplicates", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		dup := f.newLink(b.ID, rootB.ID, at(time.Minute), 0)
		dup.ID = l.ID
		wantErr(t, "CreateLink(same ID, other account)", f.db.CreateLink(f.ctx, dup), metadb.ErrExists)
		same(t, "link after a refused duplicate", f.mustLink(l.ID), l, normLink)
		ls, err := f.db.Links(f.ctx, b.ID)
		wantErr(t, "Links(b)", err, nil)
		if len(ls) != 0 {
			t.Errorf("Links(b) = %d links after a refused duplicate", len(ls))
		}
		unknown := f.newLink(f.id(), root.ID, at(0), 0)
		wantErr(t, "CreateLink(unknown account)", f.db.CreateLink(f.ctx, unknown), metadb.ErrNotFound)
		_, err = f.db.Link(f.ctx, unknown.ID)
		wantErr(t, "Link(refused)", err, metadb.ErrNotFound)
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		a, root := f.account()
		for _, tc := range []struct {
			name   string
			change func(l *metadb.Link)
		}{
			{"zero ID", func(l *metadb.Link) { l.ID = metadb.ID16{} }},
			{"zero target", func(l *metadb.Link) { l.Target = metadb.ID16{} }},
			{"negative max downloads", func(l *metadb.Link) { l.MaxDownloads = -1 }},
			{"no verifier", func(l *metadb.Link) { l.Verifier = nil }},
			{"no wrapped link key", func(l *metadb.Link) { l.WrappedLinkKey = nil }},
			{"no wrapped target key", func(l *metadb.Link) { l.WrappedTargetKey = nil }},
			{"no owner link key", func(l *metadb.Link) { l.OwnerLinkKey = nil }},
			{"no owner secret", func(l *metadb.Link) { l.OwnerSecret = nil }},
		} {
			l := f.newLink(a.ID, root.ID, at(0), 0)
			tc.change(&l)
			wantErr(t, "CreateLink("+tc.name+")", f.db.CreateLink(f.ctx, l), errAny)
		}
		ls, err := f.db.Links(f.ctx, a.ID)
		wantErr(t, "Links", err, nil)
		if len(ls) != 0 {
			t.Errorf("Links = %d links after refused creations", len(ls))
		}
	}},
	{"Revoke", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		other := f.link(a.ID, root.ID, at(0), 0)
		s1, s2, so := f.linkSession(l), f.linkSession(l), f.linkSession(other)
		login := f.session(a.ID, metadb.Session{})

		// Another account cannot revoke it.
		wantErr(t, "RevokeLink(other account)", f.db.RevokeLink(f.ctx, b.ID, l.ID, at(time.Hour)), metadb.ErrNotFound)
		same(t, "link after a foreign revoke", f.mustLink(l.ID), l, normLink)
		f.live(t, "session after a foreign revoke", s1, true)
		wantErr(t, "RevokeLink(unknown)", f.db.RevokeLink(f.ctx, a.ID, f.id(), at(time.Hour)), metadb.ErrNotFound)

		wantErr(t, "RevokeLink", f.db.RevokeLink(f.ctx, a.ID, l.ID, at(time.Hour)), nil)
		want := l
		want.Revoked = at(time.Hour)
		// A revoked link is still there, to answer "revoked".
		same(t, "Link(revoked)", f.mustLink(l.ID), want, normLink)
		ls, err := f.db.Links(f.ctx, a.ID)
		wantErr(t, "Links", err, nil)
		sameList(t, "Links with a revoked link", ls, []metadb.Link{want, other}, normLink)
		f.live(t, "session of the revoked link", s1, false)
		f.live(t, "session of the revoked link", s2, false)
		f.live(t, "session of another link", so, true)
		f.live(t, "login", login, true)

		// Revoking again keeps the first time.
		wantErr(t, "RevokeLink(again)", f.db.RevokeLink(f.ctx, a.ID, l.ID, at(2*time.Hour)), nil)
		same(t, "Link(revoked twice)", f.mustLink(l.ID), want, normLink)
		wantErr(t, "RevokeLink(zero time)", f.db.RevokeLink(f.ctx, a.ID, other.ID, time.Time{}), errAny)
		same(t, "Link(refused revoke)", f.mustLink(other.ID), other, normLink)
	}},
	{"SetTargetKey", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		want := l
		want.WrappedTargetKey = f.bytesFor("rotated target key")
		wantErr(t, "SetLinkTargetKey", f.db.SetLinkTargetKey(f.ctx, a.ID, l.ID, want.WrappedTargetKey), nil)
		same(t, "link after SetLinkTargetKey", f.mustLink(l.ID), want, normLink)
		wantErr(t, "SetLinkTargetKey(other account)", f.db.SetLinkTargetKey(f.ctx, b.ID, l.ID, f.bytesFor("x")), metadb.ErrNotFound)
		wantErr(t, "SetLinkTargetKey(unknown)", f.db.SetLinkTargetKey(f.ctx, a.ID, f.id(), f.bytesFor("x")), metadb.ErrNotFound)
		wantErr(t, "SetLinkTargetKey(empty)", f.db.SetLinkTargetKey(f.ctx, a.ID, l.ID, nil), errAny)
		same(t, "link after refused SetLinkTargetKey calls", f.mustLink(l.ID), want, normLink)
	}},
}

var downloadTests = []test{
	{"CountedOncePerSession", func(t *testing.T, f *fixture) {
		a, root := f.account()
		l := f.link(a.ID, root.ID, at(0), 0) // unlimited
		other := f.link(a.ID, root.ID, at(0), 0)
		s1, s2 := f.linkSession(l), f.linkSession(l)
		for range 3 {
			wantErr(t, "MarkDownloaded(s1)", f.db.MarkDownloaded(f.ctx, s1.TokenHash), nil)
		}
		if got := f.mustLink(l.ID).Downloads; got != 1 {
			t.Errorf("Downloads after one session = %d, want 1", got)
		}
		s1.Downloaded = true
		f.live(t, "counted session", s1, true)
		f.live(t, "uncounted session", s2, true)
		wantErr(t, "MarkDownloaded(s2)", f.db.MarkDownloaded(f.ctx, s2.TokenHash), nil)
		if got := f.mustLink(l.ID).Downloads; got != 2 {
			t.Errorf("Downloads after two sessions = %d, want 2", got)
		}
		same(t, "other link", f.mustLink(other.ID), other, normLink)
	}},
	{"MaxDownloads", func(t *testing.T, f *fixture) {
		a, root := f.account()
		l := f.link(a.ID, root.ID, at(0), 2)
		s1, s2, s3 := f.linkSession(l), f.linkSession(l), f.linkSession(l)
		wantErr(t, "MarkDownloaded(1)", f.db.MarkDownloaded(f.ctx, s1.TokenHash), nil)
		wantErr(t, "MarkDownloaded(2)", f.db.MarkDownloaded(f.ctx, s2.TokenHash), nil)
		wantErr(t, "MarkDownloaded(3, over the limit)", f.db.MarkDownloaded(f.ctx, s3.TokenHash), metadb.ErrConflict)
		wantErr(t, "MarkDownloaded(3, again)", f.db.MarkDownloaded(f.ctx, s3.TokenHash), metadb.ErrConflict)
		want := l
		want.Downloads = 2
		same(t, "link at its limit", f.mustLink(l.ID), want, normLink)
		f.live(t, "refused session", s3, true) // not counted
		// A session counted before the limit was reached stays counted.
		wantErr(t, "MarkDownloaded(1, again)", f.db.MarkDownloaded(f.ctx, s1.TokenHash), nil)
		same(t, "link after a recount", f.mustLink(l.ID), want, normLink)
	}},
	{"NotALinkSession", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		l := f.link(a.ID, root.ID, at(0), 0)
		wantErr(t, "MarkDownloaded(unknown)", f.db.MarkDownloaded(f.ctx, sha256.Sum256([]byte("unknown"))), metadb.ErrNotFound)
		expired := metadb.Session{TokenHash: sha256.Sum256(f.bytesFor("expired")), Account: a.ID, Expires: time.Now().Add(-time.Second),
			Root: root.ID, Link: l.ID}
		wantErr(t, "CreateSession(expired)", f.db.CreateSession(f.ctx, expired), nil)
		wantErr(t, "MarkDownloaded(expired)", f.db.MarkDownloaded(f.ctx, expired.TokenHash), metadb.ErrNotFound)
		login := f.session(a.ID, metadb.Session{})
		wantErr(t, "MarkDownloaded(login session)", f.db.MarkDownloaded(f.ctx, login.TokenHash), errAny)
		ss := f.shareSession(f.share(a.ID, root.ID, b.ID, false, at(0)))
		wantErr(t, "MarkDownloaded(share session)", f.db.MarkDownloaded(f.ctx, ss.TokenHash), errAny)
		f.live(t, "login session", login, true)
		f.live(t, "share session", ss, true)
		same(t, "link", f.mustLink(l.ID), l, normLink)
		// A revoked link's sessions are gone.
		s := f.linkSession(l)
		wantErr(t, "RevokeLink", f.db.RevokeLink(f.ctx, a.ID, l.ID, at(time.Hour)), nil)
		wantErr(t, "MarkDownloaded(session of a revoked link)", f.db.MarkDownloaded(f.ctx, s.TokenHash), metadb.ErrNotFound)
		if got := f.mustLink(l.ID).Downloads; got != 0 {
			t.Errorf("Downloads = %d, want 0", got)
		}
	}},
	{"CanceledContext", func(t *testing.T, f *fixture) {
		a, root := f.account()
		l := f.link(a.ID, root.ID, at(0), 1)
		s := f.linkSession(l)
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		if err := f.db.MarkDownloaded(ctx, s.TokenHash); !errors.Is(err, context.Canceled) {
			t.Errorf("MarkDownloaded(canceled context) = %v, want context.Canceled", err)
		}
		same(t, "link after a canceled MarkDownloaded", f.mustLink(l.ID), l, normLink)
		f.live(t, "session after a canceled MarkDownloaded", s, true)
		if err := f.db.RevokeLink(ctx, a.ID, l.ID, at(time.Hour)); !errors.Is(err, context.Canceled) {
			t.Errorf("RevokeLink(canceled context) = %v, want context.Canceled", err)
		}
		same(t, "link after a canceled RevokeLink", f.mustLink(l.ID), l, normLink)
		wantErr(t, "MarkDownloaded", f.db.MarkDownloaded(f.ctx, s.TokenHash), nil)
	}},
	{"Concurrent", func(t *testing.T, f *fixture) {
		// Sessions of one link race for its last downloads: exactly the
		// limit succeed, the others change nothing.
		const (
			workers = 10
			limit   = 3
		)
		a, root := f.account()
		l := f.link(a.ID, root.ID, at(0), limit)
		sessions := make([]metadb.Session, workers)
		for w := range sessions {
			sessions[w] = f.linkSession(l)
		}
		errs := make([]error, workers)
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() { errs[w] = f.db.MarkDownloaded(f.ctx, sessions[w].TokenHash) })
		}
		wg.Wait()
		won := 0
		for w, err := range errs {
			want := sessions[w]
			switch {
			case err == nil:
				won++
				want.Downloaded = true
			case !errors.Is(err, metadb.ErrConflict):
				t.Errorf("MarkDownloaded(worker %d): %v, want nil or ErrConflict", w, err)
			}
			f.live(t, fmt.Sprintf("session of worker %d", w), want, true)
		}
		if won != limit {
			t.Errorf("%d downloads counted, want %d", won, limit)
		}
		if got := f.mustLink(l.ID).Downloads; got != limit {
			t.Errorf("Downloads = %d, want %d", got, limit)
		}
	}},
}

var shareTests = []test{
	{"Lifecycle", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		c, _ := f.account()
		dir := f.folder(a.ID, root.ID)
		dirB := f.folder(b.ID, rootB.ID)
		// Created out of creation order; two at the same time, ordered by ID.
		late := f.share(a.ID, dir.ID, b.ID, true, at(time.Hour))
		early := f.share(a.ID, dir.ID, c.ID, false, at(time.Minute))
		same2 := f.newShare(a.ID, root.ID, c.ID, false, at(30*time.Minute))
		same1 := f.newShare(a.ID, root.ID, b.ID, true, at(30*time.Minute))
		same1.ID, same2.ID = same2.ID, same1.ID
		for _, s := range []metadb.Share{same2, same1} {
			wantErr(t, "CreateShare", f.db.CreateShare(f.ctx, s), nil)
		}
		fromB := f.share(b.ID, dirB.ID, c.ID, false, at(0))
		for _, want := range []metadb.Share{late, early, same1, same2, fromB} {
			got, err := f.db.Share(f.ctx, want.ID)
			wantErr(t, "Share", err, nil)
			same(t, "Share", got, want, normShare)
		}
		for _, tc := range []struct {
			name string
			list func(metadb.ID16) ([]metadb.Share, error)
			of   metadb.ID16
			want []metadb.Share
		}{
			{"SharesByOwner(a)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByOwner(f.ctx, id) }, a.ID,
				[]metadb.Share{early, same1, same2, late}},
			{"SharesByOwner(b)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByOwner(f.ctx, id) }, b.ID,
				[]metadb.Share{fromB}},
			{"SharesByOwner(c)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByOwner(f.ctx, id) }, c.ID, nil},
			{"SharesByOwner(unknown)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByOwner(f.ctx, id) }, f.id(), nil},
			{"SharesByRecipient(a)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByRecipient(f.ctx, id) }, a.ID, nil},
			{"SharesByRecipient(b)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByRecipient(f.ctx, id) }, b.ID,
				[]metadb.Share{same1, late}},
			{"SharesByRecipient(c)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByRecipient(f.ctx, id) }, c.ID,
				[]metadb.Share{fromB, early, same2}},
			{"SharesByRecipient(unknown)", func(id metadb.ID16) ([]metadb.Share, error) { return f.db.SharesByRecipient(f.ctx, id) }, f.id(), nil},
		} {
			got, err := tc.list(tc.of)
			wantErr(t, tc.name, err, nil)
			sameList(t, tc.name, got, tc.want, normShare)
		}
		_, err := f.db.Share(f.ctx, f.id())
		wantErr(t, "Share(unknown)", err, metadb.ErrNotFound)
	}},
	{"Duplicates", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		c, _ := f.account()
		s := f.share(a.ID, root.ID, b.ID, false, at(0))
		sameID := f.newShare(b.ID, rootB.ID, c.ID, false, at(0))
		sameID.ID = s.ID
		wantErr(t, "CreateShare(same ID)", f.db.CreateShare(f.ctx, sameID), metadb.ErrExists)
		again := f.newShare(a.ID, root.ID, b.ID, true, at(time.Minute))
		wantErr(t, "CreateShare(same owner, folder and recipient)", f.db.CreateShare(f.ctx, again), metadb.ErrExists)
		_, err := f.db.Share(f.ctx, again.ID)
		wantErr(t, "Share(refused)", err, metadb.ErrNotFound)
		got, err := f.db.Share(f.ctx, s.ID)
		wantErr(t, "Share", err, nil)
		same(t, "share after refused duplicates", got, s, normShare)
		// The same folder with another recipient is another share.
		f.share(a.ID, root.ID, c.ID, false, at(0))
		for _, tc := range []struct {
			name string
			s    metadb.Share
		}{
			{"unknown owner", f.newShare(f.id(), root.ID, b.ID, false, at(0))},
			{"unknown recipient", f.newShare(a.ID, root.ID, f.id(), false, at(0))},
		} {
			wantErr(t, "CreateShare("+tc.name+")", f.db.CreateShare(f.ctx, tc.s), metadb.ErrNotFound)
			_, err := f.db.Share(f.ctx, tc.s.ID)
			wantErr(t, "Share(refused: "+tc.name+")", err, metadb.ErrNotFound)
		}
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		for _, tc := range []struct {
			name   string
			change func(s *metadb.Share)
		}{
			{"zero ID", func(s *metadb.Share) { s.ID = metadb.ID16{} }},
			{"zero root", func(s *metadb.Share) { s.Root = metadb.ID16{} }},
			{"read-write without a key ID", func(s *metadb.Share) { s.Write, s.KeyID = true, metadb.ID16{} }},
			{"read-only with a key ID", func(s *metadb.Share) { s.Write, s.KeyID = false, f.id() }},
			{"nothing sealed", func(s *metadb.Share) { s.Sealed = nil }},
		} {
			s := f.newShare(a.ID, root.ID, b.ID, false, at(0))
			tc.change(&s)
			wantErr(t, "CreateShare("+tc.name+")", f.db.CreateShare(f.ctx, s), errAny)
		}
		ss, err := f.db.SharesByOwner(f.ctx, a.ID)
		wantErr(t, "SharesByOwner", err, nil)
		if len(ss) != 0 {
			t.Errorf("SharesByOwner = %d shares after refused creations", len(ss))
		}
	}},
	{"Update", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		s := f.share(a.ID, root.ID, b.ID, false, at(0))
		// Read to read-write, at a new epoch; only the level, epoch,
		// sealed payload and update time change.
		upd := s
		upd.Write, upd.KeyID, upd.Epoch = true, f.id(), 2
		upd.Sealed = f.bytesFor("resealed share")
		upd.Updated = at(time.Hour)
		arg := upd
		arg.Created = at(time.Hour)
		wantErr(t, "UpdateShare", f.db.UpdateShare(f.ctx, a.ID, arg), nil)
		got, err := f.db.Share(f.ctx, s.ID)
		wantErr(t, "Share", err, nil)
		same(t, "share after UpdateShare", got, upd, normShare)
		// And back to read-only.
		upd.Write, upd.KeyID, upd.Epoch = false, metadb.ID16{}, 3
		upd.Sealed = f.bytesFor("resealed again")
		upd.Updated = at(2 * time.Hour)
		wantErr(t, "UpdateShare(read-only)", f.db.UpdateShare(f.ctx, a.ID, upd), nil)
		got, err = f.db.Share(f.ctx, s.ID)
		wantErr(t, "Share", err, nil)
		same(t, "share after a second UpdateShare", got, upd, normShare)

		for _, tc := range []struct {
			name  string
			owner metadb.ID16
			s     metadb.Share
			want  error
		}{
			{"by the recipient", b.ID, s, metadb.ErrNotFound},
			{"unknown share", a.ID, f.newShare(a.ID, root.ID, b.ID, false, at(0)), metadb.ErrNotFound},
			{"read-write without a key ID", a.ID, func() metadb.Share { x := s; x.Write = true; return x }(), errAny},
			{"nothing sealed", a.ID, func() metadb.Share { x := s; x.Sealed = nil; return x }(), errAny},
		} {
			wantErr(t, "UpdateShare("+tc.name+")", f.db.UpdateShare(f.ctx, tc.owner, tc.s), tc.want)
		}
		got, err = f.db.Share(f.ctx, s.ID)
		wantErr(t, "Share", err, nil)
		same(t, "share after refused updates", got, upd, normShare)
	}},
	{"Delete", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, _ := f.account()
		dir := f.folder(a.ID, root.ID)
		s := f.share(a.ID, dir.ID, b.ID, true, at(0))
		other := f.share(a.ID, root.ID, b.ID, false, at(time.Minute))
		s1, s2, so := f.shareSession(s), f.shareSession(s), f.shareSession(other)
		login := f.session(a.ID, metadb.Session{})

		wantErr(t, "DeleteShare(by the recipient)", f.db.DeleteShare(f.ctx, b.ID, s.ID), metadb.ErrNotFound)
		f.live(t, "session after a refused delete", s1, true)
		wantErr(t, "DeleteShare(unknown)", f.db.DeleteShare(f.ctx, a.ID, f.id()), metadb.ErrNotFound)

		wantErr(t, "DeleteShare", f.db.DeleteShare(f.ctx, a.ID, s.ID), nil)
		_, err := f.db.Share(f.ctx, s.ID)
		wantErr(t, "Share(deleted)", err, metadb.ErrNotFound)
		f.live(t, "session of the deleted share", s1, false)
		f.live(t, "session of the deleted share", s2, false)
		f.live(t, "session of another share", so, true)
		f.live(t, "login", login, true)
		for _, tc := range []struct {
			name string
			list func() ([]metadb.Share, error)
		}{
			{"SharesByOwner", func() ([]metadb.Share, error) { return f.db.SharesByOwner(f.ctx, a.ID) }},
			{"SharesByRecipient", func() ([]metadb.Share, error) { return f.db.SharesByRecipient(f.ctx, b.ID) }},
		} {
			got, err := tc.list()
			wantErr(t, tc.name, err, nil)
			sameList(t, tc.name+" after a delete", got, []metadb.Share{other}, normShare)
		}
		wantErr(t, "DeleteShare(again)", f.db.DeleteShare(f.ctx, a.ID, s.ID), metadb.ErrNotFound)
		// The folder can be shared with the recipient again.
		f.share(a.ID, dir.ID, b.ID, false, at(time.Hour))
	}},
}

var writeKeyTests = []test{
	{"GrantAndRevoke", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		dir := f.folder(a.ID, root.ID)
		k1, k2 := metadb.WriteKey{ID: f.id(), Root: dir.ID, Active: true}, metadb.WriteKey{ID: f.id(), Root: dir.ID, Active: true}
		_, err := f.db.WriteKey(f.ctx, a.ID, k1.ID)
		wantErr(t, "WriteKey(not granted)", err, metadb.ErrNotFound)

		// A record with grants only: no entry changes.
		f.commitKeys(t, a.ID, nil, nil, []metadb.WriteKey{k1, k2}, nil, nil)
		for _, k := range []metadb.WriteKey{k1, k2} {
			f.wantKey(t, a.ID, k)
		}
		// Grants are not part of the records read back.
		recs, err := f.db.Journal(f.ctx, a.ID, 0, 100)
		wantErr(t, "Journal", err, nil)
		for _, r := range recs {
			if len(r.Grants) != 0 || len(r.Revokes) != 0 {
				t.Errorf("Journal record %d read back with %d grants and %d revokes", r.Seq, len(r.Grants), len(r.Revokes))
			}
		}
		// A key is the account's: another account neither sees nor revokes it.
		_, err = f.db.WriteKey(f.ctx, b.ID, k1.ID)
		wantErr(t, "WriteKey(other account)", err, metadb.ErrNotFound)
		f.commitKeys(t, b.ID, nil, nil, nil, []metadb.ID16{k1.ID}, metadb.ErrNotFound)
		f.wantKey(t, a.ID, k1)
		// ... and may grant the same ID for itself.
		kb := metadb.WriteKey{ID: k1.ID, Root: f.folder(b.ID, rootB.ID).ID, Active: true}
		f.commitKeys(t, b.ID, nil, nil, []metadb.WriteKey{kb}, nil, nil)
		f.wantKey(t, b.ID, kb)
		f.wantKey(t, a.ID, k1)

		// Revoked with an entry change in the same record.
		file := f.entry(a.ID, dir.ID, metadb.KindFile)
		f.commitKeys(t, a.ID, []metadb.Entry{file}, nil, nil, []metadb.ID16{k1.ID}, nil)
		k1.Active = false
		f.wantKey(t, a.ID, k1)
		f.wantKey(t, a.ID, k2)
		f.mustEntry(a.ID, file.ID)
		f.wantKey(t, b.ID, kb)

		// A revoked key is not revoked again, nor granted again.
		f.commitKeys(t, a.ID, nil, nil, nil, []metadb.ID16{k1.ID}, metadb.ErrNotFound)
		f.commitKeys(t, a.ID, nil, nil, []metadb.WriteKey{{ID: k1.ID, Root: dir.ID}}, nil, metadb.ErrExists)
		// Nor an active one granted twice, nor an unknown one revoked.
		f.commitKeys(t, a.ID, nil, nil, []metadb.WriteKey{{ID: k2.ID, Root: root.ID}}, nil, metadb.ErrExists)
		f.commitKeys(t, a.ID, nil, nil, nil, []metadb.ID16{f.id()}, metadb.ErrNotFound)
		f.wantKey(t, a.ID, k1)
		f.wantKey(t, a.ID, k2)
	}},
	{"AtomicWithCommit", func(t *testing.T, f *fixture) {
		a, root := f.account()
		dir := f.folder(a.ID, root.ID)
		taken := f.file(a.ID, dir.ID)
		active := metadb.WriteKey{ID: f.id(), Root: dir.ID, Active: true}
		revoked := metadb.WriteKey{ID: f.id(), Root: dir.ID}
		f.commitKeys(t, a.ID, nil, nil, []metadb.WriteKey{active, revoked}, nil, nil)
		f.commitKeys(t, a.ID, nil, nil, nil, []metadb.ID16{revoked.ID}, nil)

		clash := f.entry(a.ID, dir.ID, metadb.KindFile)
		clash.NameTag = taken.NameTag
		fresh := metadb.WriteKey{ID: f.id(), Root: dir.ID, Active: true}
		for _, tc := range []struct {
			name    string
			puts    []metadb.Entry
			deletes []metadb.ID16
			grants  []metadb.WriteKey
			revokes []metadb.ID16
			want    error
		}{
			{"a grant with a put that fails", []metadb.Entry{clash}, nil, []metadb.WriteKey{fresh}, nil, metadb.ErrExists},
			{"a revoke with a put that fails", []metadb.Entry{clash}, nil, nil, []metadb.ID16{active.ID}, metadb.ErrExists},
			{"a put and a grant with a revoke that fails", []metadb.Entry{f.entry(a.ID, dir.ID, metadb.KindFolder)}, nil,
				[]metadb.WriteKey{fresh}, []metadb.ID16{revoked.ID}, metadb.ErrNotFound},
			{"a delete and a revoke with a grant that fails", nil, []metadb.ID16{taken.ID},
				[]metadb.WriteKey{fresh, {ID: revoked.ID, Root: dir.ID}}, []metadb.ID16{active.ID}, metadb.ErrExists},
			{"a key granted and revoked", nil, nil, []metadb.WriteKey{fresh}, []metadb.ID16{fresh.ID}, errAny},
			{"a key granted twice", nil, nil, []metadb.WriteKey{fresh, fresh}, nil, errAny},
			{"a key revoked twice", nil, nil, nil, []metadb.ID16{active.ID, active.ID}, errAny},
			{"a grant of a zero key ID", nil, nil, []metadb.WriteKey{{Root: dir.ID}}, nil, errAny},
			{"a grant for a zero folder ID", nil, nil, []metadb.WriteKey{{ID: f.id()}}, nil, errAny},
			{"a revoke of a zero key ID", nil, nil, nil, []metadb.ID16{{}}, errAny},
		} {
			before := f.snapshot(a)
			f.commitKeys(t, a.ID, tc.puts, tc.deletes, tc.grants, tc.revokes, tc.want)
			f.unchanged(t, "Commit("+tc.name+")", a, before)
			f.wantKey(t, a.ID, active)
			f.wantKey(t, a.ID, revoked)
			_, err := f.db.WriteKey(f.ctx, a.ID, fresh.ID)
			wantErr(t, "WriteKey(granted by a failed commit: "+tc.name+")", err, metadb.ErrNotFound)
		}
		// A stale record's grants and revokes are not applied either.
		before := f.snapshot(a)
		seq, head, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		stale := f.record(a.ID, seq)
		stale.Grants, stale.Revokes = []metadb.WriteKey{fresh}, []metadb.ID16{active.ID}
		wantErr(t, "Commit(stale, with keys)", f.db.Commit(f.ctx, a.ID, stale, head, nil, nil), metadb.ErrConflict)
		f.unchanged(t, "Commit(stale, with keys)", a, before)
		f.wantKey(t, a.ID, active)
		_, err = f.db.WriteKey(f.ctx, a.ID, fresh.ID)
		wantErr(t, "WriteKey(granted by a stale commit)", err, metadb.ErrNotFound)

		// The same changes in a valid record all land.
		ok := f.entry(a.ID, dir.ID, metadb.KindFolder)
		f.commitKeys(t, a.ID, []metadb.Entry{ok}, nil, []metadb.WriteKey{fresh}, []metadb.ID16{active.ID}, nil)
		f.mustEntry(a.ID, ok.ID)
		f.wantKey(t, a.ID, fresh)
		active.Active = false
		f.wantKey(t, a.ID, active)
	}},
}

// commitKeys commits puts, deletes, grants and revokes with the account's
// next record and checks the error against want.
func (f *fixture) commitKeys(t *testing.T, account metadb.ID16, puts []metadb.Entry, deletes []metadb.ID16,
	grants []metadb.WriteKey, revokes []metadb.ID16, want error) {
	t.Helper()
	rec, prev := f.next(account)
	rec.Grants, rec.Revokes = grants, revokes
	wantErr(t, fmt.Sprintf("Commit(%d puts, %d deletes, %d grants, %d revokes)", len(puts), len(deletes), len(grants), len(revokes)),
		f.db.Commit(f.ctx, account, rec, prev, puts, deletes), want)
}

// wantKey fails the test unless the account's write key is stored as want.
func (f *fixture) wantKey(t *testing.T, account metadb.ID16, want metadb.WriteKey) {
	t.Helper()
	got, err := f.db.WriteKey(f.ctx, account, want.ID)
	wantErr(t, "WriteKey", err, nil)
	same(t, "WriteKey", got, want, identityNorm)
}

var ancestorTests = []test{
	{"Walk", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		x := f.folder(a.ID, root.ID)
		y := f.folder(a.ID, x.ID)
		z := f.folder(a.ID, y.ID)
		file := f.file(a.ID, z.ID)
		trashed := f.file(a.ID, a.TrashEntry)
		foreign := f.folder(b.ID, rootB.ID)
		for _, tc := range []struct {
			name  string
			id    metadb.ID16
			limit int
			want  []metadb.ID16
			err   error
		}{
			{"root", root.ID, 256, nil, nil},
			{"root, limit 0", root.ID, 0, nil, nil},
			{"trash", a.TrashEntry, 256, nil, nil},
			{"top-level folder", x.ID, 256, []metadb.ID16{root.ID}, nil},
			{"file in the trash", trashed.ID, 256, []metadb.ID16{a.TrashEntry}, nil},
			{"deep file", file.ID, 256, []metadb.ID16{z.ID, y.ID, x.ID, root.ID}, nil},
			{"deep file, exactly its depth", file.ID, 4, []metadb.ID16{z.ID, y.ID, x.ID, root.ID}, nil},
			{"deep file, one short", file.ID, 3, nil, metadb.ErrConflict},
			{"deep folder, limit 1", y.ID, 1, nil, metadb.ErrConflict},
			{"top-level folder, limit 0", x.ID, 0, nil, metadb.ErrConflict},
			{"another account's entry", foreign.ID, 256, nil, metadb.ErrNotFound},
			{"another account's root", rootB.ID, 256, nil, metadb.ErrNotFound},
			{"unknown entry", f.id(), 256, nil, metadb.ErrNotFound},
			{"negative limit", file.ID, -1, nil, errAny},
		} {
			got, err := f.db.Ancestors(f.ctx, a.ID, tc.id, tc.limit)
			wantErr(t, "Ancestors("+tc.name+")", err, tc.err)
			if tc.err == nil {
				sameList(t, "Ancestors("+tc.name+")", got, tc.want, identityNorm)
			}
		}
		// After a move the walk follows the new parents.
		z.Parent = x.ID
		f.mustCommit(a.ID, []metadb.Entry{z})
		got, err := f.db.Ancestors(f.ctx, a.ID, file.ID, 256)
		wantErr(t, "Ancestors(after a move)", err, nil)
		sameList(t, "Ancestors(after a move)", got, []metadb.ID16{z.ID, x.ID, root.ID}, identityNorm)
	}},
	{"Deep", func(t *testing.T, f *fixture) {
		// A chain deeper than the coordinator's walk (256 levels).
		const depth = 260
		a, root := f.account()
		chain := make([]metadb.Entry, depth)
		parent := root.ID
		for i := range chain {
			chain[i] = f.entry(a.ID, parent, metadb.KindFolder)
			parent = chain[i].ID
		}
		f.mustCommit(a.ID, chain)
		bottom := chain[depth-1].ID
		_, err := f.db.Ancestors(f.ctx, a.ID, bottom, 256)
		wantErr(t, "Ancestors(260 deep, limit 256)", err, metadb.ErrConflict)
		got, err := f.db.Ancestors(f.ctx, a.ID, bottom, depth)
		wantErr(t, "Ancestors(260 deep, limit 260)", err, nil)
		if len(got) != depth || got[0] != chain[depth-2].ID || got[depth-1] != root.ID {
			t.Errorf("Ancestors(260 deep) = %d IDs, want %d from the parent up to the root", len(got), depth)
		}
		got, err = f.db.Ancestors(f.ctx, a.ID, chain[255].ID, 256)
		wantErr(t, "Ancestors(256 deep, limit 256)", err, nil)
		if len(got) != 256 {
			t.Errorf("Ancestors(256 deep) = %d IDs, want 256", len(got))
		}
	}},
}

var entriesWithObjectTests = []test{
	{"Lookup", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		nodes := f.nodes(2)
		v1, v2 := f.committedObject(a.ID, nodes, "v1", 10), f.committedObject(a.ID, nodes, "v2", 10)
		loose := f.committedObject(a.ID, nodes, "loose", 10)
		foreign := f.committedObject(b.ID, nodes, "foreign", 10)
		pending := f.pendingObject(a.ID, at(0))
		file := f.file(a.ID, root.ID, v2.obj.ID, v1.obj.ID) // content v2, older version v1
		fileB := f.file(b.ID, rootB.ID, foreign.obj.ID)
		lookup := func(name string, account, object metadb.ID16, want ...metadb.ID16) {
			t.Helper()
			got, err := f.db.EntriesWithObject(f.ctx, account, object)
			wantErr(t, "EntriesWithObject("+name+")", err, nil)
			sameList(t, "EntriesWithObject("+name+")", got, want, identityNorm)
		}
		lookup("content", a.ID, v2.obj.ID, file.ID)
		lookup("older version", a.ID, v1.obj.ID, file.ID)
		lookup("unreferenced object", a.ID, loose.obj.ID)
		lookup("pending object", a.ID, pending.ID)
		lookup("unknown object", a.ID, f.id())
		lookup("another account's object", a.ID, foreign.obj.ID)
		lookup("own object of b", b.ID, foreign.obj.ID, fileB.ID)
		lookup("a's object, asked as b", b.ID, v2.obj.ID)

		// The version passes to another entry; a dropped one is gone.
		other := f.entry(a.ID, root.ID, metadb.KindFile, v1.obj.ID)
		file.Objects = []metadb.ID16{v2.obj.ID}
		f.mustCommit(a.ID, []metadb.Entry{file, other})
		lookup("object moved to another entry", a.ID, v1.obj.ID, other.ID)
		lookup("content after the move", a.ID, v2.obj.ID, file.ID)
		f.mustCommit(a.ID, nil, file.ID)
		lookup("object of a deleted file", a.ID, v2.obj.ID)
	}},
}
