package metadbtest

import (
	"fmt"
	"testing"

	"github.com/nuage-storage/nuage/internal/metadb"
)

// The comparisons below print both values with %+v after moving their
// times to UTC, so that equal instants in other locations compare equal and
// nil and empty byte slices compare equal (both print as []).

func normAccount(a metadb.Account) metadb.Account {
	a.Created = a.Created.UTC()
	return a
}

func normToken(t metadb.Token) metadb.Token {
	t.Created = t.Created.UTC()
	t.LastUsed = t.LastUsed.UTC()
	return t
}

func normRecord(r metadb.JournalRecord) metadb.JournalRecord {
	r.Created = r.Created.UTC()
	return r
}

func normEntry(e metadb.Entry) metadb.Entry {
	e.Created = e.Created.UTC()
	e.Updated = e.Updated.UTC()
	return e
}

func normObject(o metadb.Object) metadb.Object {
	o.Created = o.Created.UTC()
	return o
}

func normNode(n metadb.Node) metadb.Node {
	n.LastSeen = n.LastSeen.UTC()
	n.Created = n.Created.UTC()
	return n
}

func normSession(s metadb.Session) metadb.Session {
	s.Expires = s.Expires.UTC()
	return s
}

func normDeletion(d metadb.Deletion) metadb.Deletion {
	d.Queued = d.Queued.UTC()
	return d
}

func identityNorm[T any](v T) T { return v }

// same fails the test if got and want differ after norm.
func same[T any](t *testing.T, what string, got, want T, norm func(T) T) {
	t.Helper()
	g, w := fmt.Sprintf("%+v", norm(got)), fmt.Sprintf("%+v", norm(want))
	if g != w {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

// sameList fails the test if the lists differ in length or in any element.
func sameList[T any](t *testing.T, what string, got, want []T, norm func(T) T) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: got %d items, want %d", what, len(got), len(want))
		for i, g := range got {
			t.Logf("  got[%d] = %+v", i, norm(g))
		}
		return
	}
	for i := range got {
		same(t, fmt.Sprintf("%s[%d]", what, i), got[i], want[i], norm)
	}
}
