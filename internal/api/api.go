// Package api holds the JSON bodies of the coordinator's HTTP API
// (docs/spec.md §8). Binary values are base64 ([]byte fields) and IDs are
// hex strings. Both the coordinator and the client use these types, so the
// two cannot drift apart.
package api

import (
	"github.com/nuage-storage/nuage/internal/identity"
	"github.com/nuage-storage/nuage/internal/piece"
)

// Prefix is the path prefix of every API call.
const Prefix = "/api/v1"

// Error is the body of every non-2xx answer.
type Error struct {
	Error string `json:"error"`
	Code  string `json:"code"`
	Hint  string `json:"hint,omitempty"`
	// RetryAfter, in seconds, for rate-limited calls.
	RetryAfter int `json:"retry_after,omitempty"`
}

// Error codes.
const (
	CodeBadRequest     = "bad_request"
	CodeUnauthorized   = "unauthorized"
	CodeNotFound       = "not_found"
	CodeExists         = "exists"
	CodeConflict       = "conflict"
	CodeNotEnoughNodes = "not_enough_nodes"
	CodeTooMany        = "too_many_requests"
	CodeInternal       = "internal"
	CodeBadOrder       = "bad_order"
	CodeBadPiece       = "bad_piece"
	CodeNoSpace        = "no_space"
)

// Scheme is an erasure-coding scheme: any K of N pieces rebuild a segment.
type Scheme struct {
	K int `json:"k"`
	N int `json:"n"`
	// Success is how many pieces of a segment a client stores before it
	// cancels the slowest remaining uploads (long-tail cut). Zero means N.
	Success int `json:"success,omitempty"`
}

// Info answers GET /info.
type Info struct {
	Version     string      `json:"version"`
	Coordinator identity.ID `json:"coordinator"`
	Scheme      Scheme      `json:"scheme"`
	SegmentSize int64       `json:"segment_size"`
	InlineMax   int64       `json:"inline_max"`
}

// KDF are the password-hashing parameters stored with an account.
type KDF struct {
	Alg       string `json:"alg"` // "argon2id"
	Salt      []byte `json:"salt"`
	Time      uint32 `json:"t"`
	MemoryKiB uint32 `json:"m"`
	Threads   uint8  `json:"p"`
}

// PreloginRequest asks for an account's KDF parameters.
type PreloginRequest struct {
	Email string `json:"email"`
}

// PreloginResponse answers /prelogin.
type PreloginResponse struct {
	KDF KDF `json:"kdf"`
}

// Entry is a folder or file as stored by the coordinator.
type Entry struct {
	ID         string `json:"id"`
	Parent     string `json:"parent,omitempty"` // empty for the root
	Kind       string `json:"kind"`             // "folder" or "file"
	NameTag    []byte `json:"name_tag,omitempty"`
	WrappedKey []byte `json:"wrapped_key"`
	Meta       []byte `json:"meta"`
	Object     string `json:"object,omitempty"`
	Created    int64  `json:"created,omitempty"` // Unix seconds, set by the coordinator
	Updated    int64  `json:"updated,omitempty"`
}

// SignupRequest creates an account with its root folder.
type SignupRequest struct {
	Email            string `json:"email"`
	Account          string `json:"account"` // account ID chosen by the client (hex)
	KDF              KDF    `json:"kdf"`
	AuthKey          []byte `json:"auth_key"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
	Root             Entry  `json:"root"`
}

// LoginRequest opens a session.
type LoginRequest struct {
	Email   string `json:"email"`
	AuthKey []byte `json:"auth_key"`
}

// Session answers /signup and /login.
type Session struct {
	Token            string `json:"token"`
	Account          string `json:"account"`
	Email            string `json:"email"`
	KDF              KDF    `json:"kdf"`
	WrappedMasterKey []byte `json:"wrapped_master_key"`
	Root             Entry  `json:"root"`
	Expires          int64  `json:"expires"`
}

// Children answers GET /entries/{id}/children.
type Children struct {
	Entries []Entry `json:"entries"`
}

// ObjectCreated answers POST /objects.
type ObjectCreated struct {
	Object      string `json:"object"`
	Scheme      Scheme `json:"scheme"`
	SegmentSize int64  `json:"segment_size"`
}

// SegmentRequest declares a segment before its pieces are uploaded.
type SegmentRequest struct {
	Index     int        `json:"index"`
	Size      int64      `json:"size"`       // ciphertext bytes
	PieceSize int64      `json:"piece_size"` // bytes of every piece
	Pieces    []piece.ID `json:"pieces"`     // piece IDs, N of them, in shard order
}

// PieceOrder tells a client where piece Index goes (or comes from) and
// carries the signed order to present to the node.
type PieceOrder struct {
	Index   int         `json:"index"`
	Piece   piece.ID    `json:"piece"`
	Node    identity.ID `json:"node"`
	Address string      `json:"address"`
	Order   []byte      `json:"order"`
}

// SegmentOrders answers a segment declaration with one PUT order per piece.
type SegmentOrders struct {
	Orders []PieceOrder `json:"orders"`
}

// SegmentCommit hands the coordinator the receipts of the stored pieces.
type SegmentCommit struct {
	Receipts [][]byte `json:"receipts"`
}

// ObjectCommit seals an object.
type ObjectCommit struct {
	Segments int   `json:"segments"`
	Size     int64 `json:"size"`
}

// Segment is a committed segment with GET orders for its stored pieces.
type Segment struct {
	Index     int          `json:"index"`
	Size      int64        `json:"size"`
	PieceSize int64        `json:"piece_size"`
	K         int          `json:"k"`
	N         int          `json:"n"`
	Pieces    []PieceOrder `json:"pieces"`
}

// Segments answers GET /objects/{id}/segments.
type Segments struct {
	Segments []Segment `json:"segments"`
}

// CheckIn is a node's periodic check-in (docs/spec.md §7.1).
type CheckIn struct {
	Node      identity.ID `json:"node"`
	Address   string      `json:"address"`
	Capacity  int64       `json:"capacity"`
	Used      int64       `json:"used"`
	Time      int64       `json:"time"`
	Signature []byte      `json:"signature"`
}

// CheckInResponse answers a check-in.
type CheckInResponse struct {
	Coordinator identity.ID `json:"coordinator"`
}

// Usage answers GET /usage.
type Usage struct {
	Used  int64 `json:"used"`
	Files int64 `json:"files,omitempty"`
}
