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

var accountTests = []test{
	{"CreateAndGet", func(t *testing.T, f *fixture) {
		a, root, trash, first := f.newAccount()
		wantErr(t, "CreateAccount", f.db.CreateAccount(f.ctx, a, root, trash, first), nil)
		got, err := f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "AccountByEmail", got, a, normAccount)
		got, err = f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "AccountByID", got, a, normAccount)

		for _, want := range []metadb.Entry{root, trash} {
			e, err := f.db.Entry(f.ctx, a.ID, want.ID)
			wantErr(t, "Entry(top-level folder)", err, nil)
			same(t, "Entry(top-level folder)", e, want, normEntry)
			children, err := f.db.Children(f.ctx, a.ID, want.ID)
			wantErr(t, "Children(top-level folder)", err, nil)
			if len(children) != 0 {
				t.Errorf("Children(top-level folder) of a new account = %d entries, want 0", len(children))
			}
		}
		seq, head, err := f.db.JournalHead(f.ctx, a.ID)
		wantErr(t, "JournalHead", err, nil)
		if seq != 1 || head != first.Hash {
			t.Errorf("JournalHead = %d, %x; want 1, %x", seq, head, first.Hash)
		}
		recs, err := f.db.Journal(f.ctx, a.ID, 0, 10)
		wantErr(t, "Journal", err, nil)
		sameList(t, "Journal", recs, []metadb.JournalRecord{first}, normRecord)
		u, err := f.db.Usage(f.ctx, a.ID)
		wantErr(t, "Usage", err, nil)
		same(t, "Usage of a new account", u, metadb.Usage{}, identityNorm)
	}},
	{"TopLevelFoldersHaveNoName", func(t *testing.T, f *fixture) {
		// Folders in no folder need no name tag.
		a, root, trash, first := f.newAccount()
		root.NameTag, trash.NameTag = nil, nil
		wantErr(t, "CreateAccount", f.db.CreateAccount(f.ctx, a, root, trash, first), nil)
		same(t, "root", f.mustEntry(a.ID, root.ID), root, normEntry)
		same(t, "trash", f.mustEntry(a.ID, trash.ID), trash, normEntry)
		root.Meta = f.bytesFor("new root meta")
		f.mustCommit(a.ID, []metadb.Entry{root})
		same(t, "root after an update", f.mustEntry(a.ID, root.ID), root, normEntry)
	}},
	{"Duplicates", func(t *testing.T, f *fixture) {
		a, root := f.account()
		tests := []struct {
			name   string
			change func(b *metadb.Account, root, trash *metadb.Entry)
		}{
			{"same e-mail", func(b *metadb.Account, _, _ *metadb.Entry) { b.Email = a.Email }},
			{"same ID", func(b *metadb.Account, root, trash *metadb.Entry) {
				b.ID = a.ID
				root.Account, trash.Account = a.ID, a.ID
			}},
			{"root ID of another account", func(b *metadb.Account, r, _ *metadb.Entry) { b.RootEntry, r.ID = root.ID, root.ID }},
			{"trash ID of another account", func(b *metadb.Account, _, trash *metadb.Entry) { b.TrashEntry, trash.ID = a.TrashEntry, a.TrashEntry }},
		}
		for _, tc := range tests {
			before := f.snapshot(a)
			b, rootB, trashB, first := f.newAccount()
			tc.change(&b, &rootB, &trashB)
			wantErr(t, "CreateAccount("+tc.name+")", f.db.CreateAccount(f.ctx, b, rootB, trashB, first), metadb.ErrExists)
			if b.ID != a.ID {
				_, err := f.db.AccountByID(f.ctx, b.ID)
				wantErr(t, "AccountByID(rejected: "+tc.name+")", err, metadb.ErrNotFound)
				_, _, err = f.db.JournalHead(f.ctx, b.ID)
				wantErr(t, "JournalHead(rejected: "+tc.name+")", err, metadb.ErrNotFound)
			}
			if b.Email != a.Email {
				_, err := f.db.AccountByEmail(f.ctx, b.Email)
				wantErr(t, "AccountByEmail(rejected: "+tc.name+")", err, metadb.ErrNotFound)
			}
			for _, id := range []metadb.ID16{rootB.ID, trashB.ID} {
				if id != root.ID && id != a.TrashEntry {
					_, err := f.db.Entry(f.ctx, b.ID, id)
					wantErr(t, "Entry(folder of rejected account: "+tc.name+")", err, metadb.ErrNotFound)
				}
			}
			got, err := f.db.AccountByID(f.ctx, a.ID)
			wantErr(t, "AccountByID", err, nil)
			same(t, "account after a rejected duplicate ("+tc.name+")", got, a, normAccount)
			f.unchanged(t, "CreateAccount("+tc.name+")", a, before)
		}
	}},
	{"NotFound", func(t *testing.T, f *fixture) {
		f.account()
		_, err := f.db.AccountByEmail(f.ctx, "nobody@example.org")
		wantErr(t, "AccountByEmail(unknown)", err, metadb.ErrNotFound)
		_, err = f.db.AccountByID(f.ctx, f.id())
		wantErr(t, "AccountByID(unknown)", err, metadb.ErrNotFound)
		unknown := f.id()
		wantErr(t, "SetPassword(unknown)", f.db.SetPassword(f.ctx, unknown, []byte("{}"), []byte("v"), []byte("w")), metadb.ErrNotFound)
		wantErr(t, "SetRecovery(unknown)", f.db.SetRecovery(f.ctx, unknown, []byte("v"), []byte("w")), metadb.ErrNotFound)
		wantErr(t, "SetTOTP(unknown)", f.db.SetTOTP(f.ctx, unknown, []byte("secret")), metadb.ErrNotFound)
		wantErr(t, "UseTOTPStep(unknown)", f.db.UseTOTPStep(f.ctx, unknown, 1), metadb.ErrNotFound)
	}},
	{"Invalid", func(t *testing.T, f *fixture) {
		_, existing := f.account()
		tests := []struct {
			name   string
			change func(a *metadb.Account, root, trash *metadb.Entry, first *metadb.JournalRecord)
		}{
			{"zero ID", func(a *metadb.Account, root, trash *metadb.Entry, _ *metadb.JournalRecord) {
				a.ID, root.Account, trash.Account = metadb.ID16{}, metadb.ID16{}, metadb.ID16{}
			}},
			{"root with a parent", func(_ *metadb.Account, root, _ *metadb.Entry, _ *metadb.JournalRecord) { root.Parent = existing.ID }},
			{"trash with a parent", func(_ *metadb.Account, _, trash *metadb.Entry, _ *metadb.JournalRecord) { trash.Parent = existing.ID }},
			{"root is a file", func(_ *metadb.Account, root, _ *metadb.Entry, _ *metadb.JournalRecord) { root.Kind = metadb.KindFile }},
			{"trash is a file", func(_ *metadb.Account, _, trash *metadb.Entry, _ *metadb.JournalRecord) { trash.Kind = metadb.KindFile }},
			{"root with an object", func(_ *metadb.Account, root, _ *metadb.Entry, _ *metadb.JournalRecord) {
				root.Objects = []metadb.ID16{f.id()}
			}},
			{"root of another account", func(_ *metadb.Account, root, _ *metadb.Entry, _ *metadb.JournalRecord) {
				root.Account = existing.Account
			}},
			{"trash of another account", func(_ *metadb.Account, _, trash *metadb.Entry, _ *metadb.JournalRecord) {
				trash.Account = existing.Account
			}},
			{"root is not RootEntry", func(_ *metadb.Account, root, _ *metadb.Entry, _ *metadb.JournalRecord) { root.ID = f.id() }},
			{"trash is not TrashEntry", func(_ *metadb.Account, _, trash *metadb.Entry, _ *metadb.JournalRecord) { trash.ID = f.id() }},
			{"root is the trash", func(a *metadb.Account, root, trash *metadb.Entry, _ *metadb.JournalRecord) {
				a.TrashEntry, trash.ID = a.RootEntry, a.RootEntry
			}},
			{"first record is seq 2", func(a *metadb.Account, _, _ *metadb.Entry, first *metadb.JournalRecord) { *first = f.record(a.ID, 2) }},
			{"first record hash is not its SHA-256", func(_ *metadb.Account, _, _ *metadb.Entry, first *metadb.JournalRecord) { first.Hash[0] ^= 1 }},
			{"first record is empty", func(_ *metadb.Account, _, _ *metadb.Entry, first *metadb.JournalRecord) {
				first.Data = nil
				first.Hash = sha256.Sum256(nil)
			}},
		}
		for _, tc := range tests {
			a, root, trash, first := f.newAccount()
			tc.change(&a, &root, &trash, &first)
			wantErr(t, "CreateAccount("+tc.name+")", f.db.CreateAccount(f.ctx, a, root, trash, first), errAny)
			_, err := f.db.AccountByEmail(f.ctx, a.Email)
			wantErr(t, "AccountByEmail(rejected: "+tc.name+")", err, metadb.ErrNotFound)
		}
	}},
	{"SetPassword", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		want := a
		want.KDF = []byte(`{"alg":"argon2id","t":4,"m":131072,"p":2}`)
		want.Verifier = bytes.Repeat([]byte{0x77}, 32)
		want.WrappedMasterKey = f.bytesFor("rewrapped master key")
		wantErr(t, "SetPassword", f.db.SetPassword(f.ctx, a.ID, want.KDF, want.Verifier, want.WrappedMasterKey), nil)
		got, err := f.db.AccountByEmail(f.ctx, a.Email)
		wantErr(t, "AccountByEmail", err, nil)
		same(t, "account after SetPassword", got, want, normAccount)
		got, err = f.db.AccountByID(f.ctx, b.ID)
		wantErr(t, "AccountByID(other account)", err, nil)
		same(t, "other account after SetPassword", got, b, normAccount)
	}},
	{"SetRecovery", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		want := a
		for i := range 2 { // set, then replace
			want.RecoveryVerifier = bytes.Repeat([]byte{byte(0x30 + i)}, 32)
			want.RecoveryWrap = f.bytesFor("recovery wrap")
			wantErr(t, "SetRecovery", f.db.SetRecovery(f.ctx, a.ID, want.RecoveryVerifier, want.RecoveryWrap), nil)
			got, err := f.db.AccountByID(f.ctx, a.ID)
			wantErr(t, "AccountByID", err, nil)
			same(t, "account after SetRecovery", got, want, normAccount)
		}
	}},
}

var totpTests = []test{
	{"SetAndReset", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		want := a
		want.TOTPSecret = bytes.Repeat([]byte{0x42}, 20)
		wantErr(t, "SetTOTP", f.db.SetTOTP(f.ctx, a.ID, want.TOTPSecret), nil)
		wantErr(t, "UseTOTPStep", f.db.UseTOTPStep(f.ctx, a.ID, 59_000_000), nil)
		want.TOTPLastStep = 59_000_000
		got, err := f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "account with TOTP", got, want, normAccount)

		// A new secret starts afresh: an earlier step works again.
		want.TOTPSecret = bytes.Repeat([]byte{0x43}, 20)
		wantErr(t, "SetTOTP(new secret)", f.db.SetTOTP(f.ctx, a.ID, want.TOTPSecret), nil)
		want.TOTPLastStep = 0
		got, err = f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "account after a new secret", got, want, normAccount)
		wantErr(t, "UseTOTPStep(earlier step, new secret)", f.db.UseTOTPStep(f.ctx, a.ID, 58_999_999), nil)

		wantErr(t, "SetTOTP(nil)", f.db.SetTOTP(f.ctx, a.ID, nil), nil)
		got, err = f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		same(t, "account with TOTP off", got, a, normAccount)
		if len(got.TOTPSecret) != 0 || got.TOTPLastStep != 0 {
			t.Errorf("TOTP off: secret %x, last step %d", got.TOTPSecret, got.TOTPLastStep)
		}
	}},
	{"StepsIncrease", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		wantErr(t, "SetTOTP", f.db.SetTOTP(f.ctx, a.ID, []byte("12345678901234567890")), nil)
		tests := []struct {
			step int64
			want error
		}{
			{100, nil},
			{100, metadb.ErrConflict}, // replay
			{99, metadb.ErrConflict},  // an older code
			{101, nil},
			{103, nil},
			{102, metadb.ErrConflict}, // a step skipped is gone
			{0, metadb.ErrConflict},
			{-5, metadb.ErrConflict},
			{104, nil},
		}
		for _, tc := range tests {
			wantErr(t, fmt.Sprintf("UseTOTPStep(%d)", tc.step), f.db.UseTOTPStep(f.ctx, a.ID, tc.step), tc.want)
		}
		got, err := f.db.AccountByID(f.ctx, a.ID)
		wantErr(t, "AccountByID", err, nil)
		if got.TOTPLastStep != 104 {
			t.Errorf("TOTPLastStep = %d, want 104", got.TOTPLastStep)
		}
		// Steps are per account.
		wantErr(t, "UseTOTPStep(other account)", f.db.UseTOTPStep(f.ctx, b.ID, 100), nil)
	}},
	{"ConcurrentReplay", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		const workers = 8
		errs := make(chan error, workers)
		var wg sync.WaitGroup
		for range workers {
			wg.Go(func() { errs <- f.db.UseTOTPStep(f.ctx, a.ID, 777) })
		}
		wg.Wait()
		close(errs)
		won := 0
		for err := range errs {
			switch {
			case err == nil:
				won++
			case !errors.Is(err, metadb.ErrConflict):
				t.Errorf("UseTOTPStep: %v, want nil or ErrConflict", err)
			}
		}
		if won != 1 {
			t.Errorf("%d concurrent uses of one step succeeded, want 1", won)
		}
	}},
}

var tokenTests = []test{
	{"Lifecycle", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		// Created out of creation order, so that insertion order is not
		// the order wanted.
		later := f.token(a.ID, "laptop", at(time.Hour))
		earlier := f.token(a.ID, "build server", at(time.Minute))
		for _, want := range []metadb.Token{later, earlier} {
			got, err := f.db.Token(f.ctx, want.ID)
			wantErr(t, "Token", err, nil)
			same(t, "Token", got, want, normToken)
		}
		ts, err := f.db.Tokens(f.ctx, a.ID)
		wantErr(t, "Tokens", err, nil)
		sameList(t, "Tokens", ts, []metadb.Token{earlier, later}, normToken)

		wantErr(t, "TouchToken", f.db.TouchToken(f.ctx, later.ID, at(2*time.Hour)), nil)
		later.LastUsed = at(2 * time.Hour)
		// A request that finished late does not move LastUsed back.
		wantErr(t, "TouchToken(earlier time)", f.db.TouchToken(f.ctx, later.ID, at(90*time.Minute)), nil)
		got, err := f.db.Token(f.ctx, later.ID)
		wantErr(t, "Token", err, nil)
		same(t, "Token after TouchToken", got, later, normToken)

		wantErr(t, "DeleteToken", f.db.DeleteToken(f.ctx, a.ID, earlier.ID), nil)
		_, err = f.db.Token(f.ctx, earlier.ID)
		wantErr(t, "Token(deleted)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteToken(deleted)", f.db.DeleteToken(f.ctx, a.ID, earlier.ID), metadb.ErrNotFound)
		wantErr(t, "TouchToken(deleted)", f.db.TouchToken(f.ctx, earlier.ID, at(3*time.Hour)), metadb.ErrNotFound)
		ts, err = f.db.Tokens(f.ctx, a.ID)
		wantErr(t, "Tokens", err, nil)
		sameList(t, "Tokens after a delete", ts, []metadb.Token{later}, normToken)
		// The name of a deleted token is free again.
		f.token(a.ID, "build server", at(3*time.Hour))
	}},
	{"Duplicates", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		first := f.token(a.ID, "laptop", at(0))
		sameID := f.newToken(b.ID, "other", at(0))
		sameID.ID = first.ID
		wantErr(t, "CreateToken(same ID, other account)", f.db.CreateToken(f.ctx, sameID), metadb.ErrExists)
		sameName := f.newToken(a.ID, first.Name, at(time.Minute))
		wantErr(t, "CreateToken(same name)", f.db.CreateToken(f.ctx, sameName), metadb.ErrExists)
		_, err := f.db.Token(f.ctx, sameName.ID)
		wantErr(t, "Token(rejected)", err, metadb.ErrNotFound)
		f.token(b.ID, first.Name, at(0)) // same name, other account
		got, err := f.db.Token(f.ctx, first.ID)
		wantErr(t, "Token", err, nil)
		same(t, "Token after rejected duplicates", got, first, normToken)
	}},
	{"ScopedToAccount", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		tokA := f.token(a.ID, "a", at(0))
		tokB := f.token(b.ID, "b", at(0))
		wantErr(t, "DeleteToken(other account's token)", f.db.DeleteToken(f.ctx, b.ID, tokA.ID), metadb.ErrNotFound)
		got, err := f.db.Token(f.ctx, tokA.ID)
		wantErr(t, "Token after a foreign delete", err, nil)
		same(t, "Token after a foreign delete", got, tokA, normToken)
		ts, err := f.db.Tokens(f.ctx, b.ID)
		wantErr(t, "Tokens(b)", err, nil)
		sameList(t, "Tokens(b)", ts, []metadb.Token{tokB}, normToken)
		ts, err = f.db.Tokens(f.ctx, f.id())
		wantErr(t, "Tokens(unknown account)", err, nil)
		if len(ts) != 0 {
			t.Errorf("Tokens(unknown account) = %d tokens", len(ts))
		}
		wantErr(t, "CreateToken(unknown account)", f.db.CreateToken(f.ctx, f.newToken(f.id(), "x", at(0))), metadb.ErrNotFound)
		_, err = f.db.Token(f.ctx, f.id())
		wantErr(t, "Token(unknown)", err, metadb.ErrNotFound)
		wantErr(t, "TouchToken(unknown)", f.db.TouchToken(f.ctx, f.id(), at(0)), metadb.ErrNotFound)
	}},
}

// newToken returns (without creating it) a token of account.
func (f *fixture) newToken(account metadb.ID16, name string, created time.Time) metadb.Token {
	return metadb.Token{
		ID:               f.id(),
		Account:          account,
		Name:             name,
		Verifier:         bytes.Repeat([]byte{byte(f.seq)}, 32),
		WrappedMasterKey: f.bytesFor("token wrap"),
		Created:          created,
	}
}

// token creates a token of account.
func (f *fixture) token(account metadb.ID16, name string, created time.Time) metadb.Token {
	f.t.Helper()
	t := f.newToken(account, name, created)
	if err := f.db.CreateToken(f.ctx, t); err != nil {
		f.t.Fatalf("CreateToken(%q): %v", name, err)
	}
	return t
}

var sessionTests = []test{
	{"Lifecycle", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: a.ID, Expires: time.Now().Add(time.Hour).Truncate(time.Microsecond)}
		wantErr(t, "CreateSession", f.db.CreateSession(f.ctx, s), nil)
		got, err := f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken", err, nil)
		same(t, "SessionByToken", got, s, normSession)
		_, err = f.db.SessionByToken(f.ctx, sha256.Sum256([]byte("other token")))
		wantErr(t, "SessionByToken(unknown)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteSession", f.db.DeleteSession(f.ctx, s.TokenHash), nil)
		_, err = f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken(deleted)", err, metadb.ErrNotFound)
		wantErr(t, "DeleteSession(deleted)", f.db.DeleteSession(f.ctx, s.TokenHash), metadb.ErrNotFound)
	}},
	{"DeleteSessions", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		b, _ := f.account()
		exp := time.Now().Add(time.Hour)
		mk := func(acct metadb.ID16, tok string) metadb.Session {
			s := metadb.Session{TokenHash: sha256.Sum256([]byte(tok)), Account: acct, Expires: exp}
			wantErr(t, "CreateSession", f.db.CreateSession(f.ctx, s), nil)
			return s
		}
		a1, a2, a3, b1 := mk(a.ID, "a1"), mk(a.ID, "a2"), mk(a.ID, "a3"), mk(b.ID, "b1")
		n, err := f.db.DeleteSessions(f.ctx, a.ID, a2.TokenHash)
		wantErr(t, "DeleteSessions(keep a2)", err, nil)
		if n != 2 {
			t.Errorf("DeleteSessions deleted %d sessions, want 2", n)
		}
		for _, s := range []metadb.Session{a1, a3} {
			_, err := f.db.SessionByToken(f.ctx, s.TokenHash)
			wantErr(t, "SessionByToken(deleted)", err, metadb.ErrNotFound)
		}
		for _, s := range []metadb.Session{a2, b1} {
			_, err := f.db.SessionByToken(f.ctx, s.TokenHash)
			wantErr(t, "SessionByToken(kept)", err, nil)
		}
		n, err = f.db.DeleteSessions(f.ctx, a.ID, [32]byte{})
		wantErr(t, "DeleteSessions(all)", err, nil)
		if n != 1 {
			t.Errorf("DeleteSessions(all) deleted %d, want 1", n)
		}
		if _, err := f.db.SessionByToken(f.ctx, b1.TokenHash); err != nil {
			t.Errorf("another account's session was deleted: %v", err)
		}
	}},
	{"Expired", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		now := time.Now()
		expired := metadb.Session{TokenHash: sha256.Sum256([]byte("old")), Account: a.ID, Expires: now.Add(-time.Second)}
		live := metadb.Session{TokenHash: sha256.Sum256([]byte("new")), Account: a.ID, Expires: now.Add(time.Hour).Truncate(time.Microsecond)}
		// The expired session is created last, so that it is still stored
		// if an implementation purges expired sessions on creation.
		wantErr(t, "CreateSession(live)", f.db.CreateSession(f.ctx, live), nil)
		wantErr(t, "CreateSession(expired)", f.db.CreateSession(f.ctx, expired), nil)
		_, err := f.db.SessionByToken(f.ctx, expired.TokenHash)
		wantErr(t, "SessionByToken(expired)", err, metadb.ErrNotFound)
		got, err := f.db.SessionByToken(f.ctx, live.TokenHash)
		wantErr(t, "SessionByToken(live)", err, nil)
		same(t, "SessionByToken(live)", got, live, normSession)
	}},
	{"Duplicate", func(t *testing.T, f *fixture) {
		a, _ := f.account()
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: a.ID, Expires: time.Now().Add(time.Hour)}
		wantErr(t, "CreateSession", f.db.CreateSession(f.ctx, s), nil)
		wantErr(t, "CreateSession(again)", f.db.CreateSession(f.ctx, s), metadb.ErrExists)
	}},
	{"UnknownAccount", func(t *testing.T, f *fixture) {
		s := metadb.Session{TokenHash: sha256.Sum256([]byte("token")), Account: f.id(), Expires: time.Now().Add(time.Hour)}
		wantErr(t, "CreateSession(unknown account)", f.db.CreateSession(f.ctx, s), metadb.ErrNotFound)
		_, err := f.db.SessionByToken(f.ctx, s.TokenHash)
		wantErr(t, "SessionByToken", err, metadb.ErrNotFound)
	}},
}

var usageTests = []test{
	{"CountsWhatTheAccountStores", func(t *testing.T, f *fixture) {
		a, root := f.account()
		b, rootB := f.account()
		nodes := f.nodes(4)
		usage := func(id metadb.ID16, want metadb.Usage) {
			t.Helper()
			got, err := f.db.Usage(f.ctx, id)
			wantErr(t, "Usage", err, nil)
			same(t, "Usage", got, want, identityNorm)
		}
		usage(a.ID, metadb.Usage{})
		u1 := f.committedObject(a.ID, nodes, "one", 1000, 10)
		u2 := f.committedObject(a.ID, nodes, "two", 300)
		u3 := f.committedObject(b.ID, nodes, "three", 7000)
		pending := f.pendingObject(a.ID, at(0))
		s := segment(pending.ID, 0, 2, 4, 5000, "pending")
		f.putSegment(a.ID, s)
		f.commitSegment(a.ID, s, piecesOf(s, nodes))
		// Committed objects count whether an entry references them yet or not.
		usage(a.ID, metadb.Usage{Bytes: 1310})
		usage(b.ID, metadb.Usage{Bytes: 7000})

		dir := f.folder(a.ID, root.ID)
		sub := f.folder(a.ID, dir.ID)
		file := f.file(a.ID, sub.ID, u1.obj.ID)
		f.file(a.ID, dir.ID) // inline
		trashed := f.entry(a.ID, a.TrashEntry, metadb.KindFile, u2.obj.ID)
		f.mustCreate(trashed)
		f.file(b.ID, rootB.ID, u3.obj.ID)
		usage(a.ID, metadb.Usage{Bytes: 1310, Files: 3, Folders: 2})
		usage(b.ID, metadb.Usage{Bytes: 7000, Files: 1})

		f.mustCommit(a.ID, nil, file.ID, sub.ID)
		usage(a.ID, metadb.Usage{Bytes: 300, Files: 2, Folders: 1})
		f.mustCommit(a.ID, nil, trashed.ID)
		usage(a.ID, metadb.Usage{Files: 1, Folders: 1})
		_, err := f.db.Usage(f.ctx, f.id())
		wantErr(t, "Usage(unknown account)", err, metadb.ErrNotFound)
	}},
}

var contextTests = []test{
	{"Canceled", func(t *testing.T, f *fixture) {
		a, root := f.account()
		ctx, cancel := context.WithCancel(f.ctx)
		cancel()
		_, err := f.db.AccountByID(ctx, a.ID)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("AccountByID(canceled context) = %v, want context.Canceled", err)
		}
		_, err = f.db.Children(ctx, a.ID, root.ID)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Children(canceled context) = %v, want context.Canceled", err)
		}
		before := f.snapshot(a)
		e := f.entry(a.ID, root.ID, metadb.KindFolder)
		rec, prev := f.next(a.ID)
		err = f.db.Commit(ctx, a.ID, rec, prev, []metadb.Entry{e}, nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Commit(canceled context) = %v, want context.Canceled", err)
		}
		f.unchanged(t, "Commit(canceled context)", a, before)
		o := metadb.Object{ID: f.id(), Account: a.ID, State: metadb.ObjectPending, Created: at(0)}
		if err := f.db.CreateObject(ctx, o); !errors.Is(err, context.Canceled) {
			t.Errorf("CreateObject(canceled context) = %v, want context.Canceled", err)
		}
		_, err = f.db.Object(f.ctx, a.ID, o.ID)
		wantErr(t, "Object(created with a canceled context)", err, metadb.ErrNotFound)
		if err := f.db.UseTOTPStep(ctx, a.ID, 5); !errors.Is(err, context.Canceled) {
			t.Errorf("UseTOTPStep(canceled context) = %v, want context.Canceled", err)
		}
		wantErr(t, "UseTOTPStep(step of a canceled call)", f.db.UseTOTPStep(f.ctx, a.ID, 5), nil)
	}},
}
