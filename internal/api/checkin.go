package api

import (
	"encoding/binary"

	"github.com/nuage-storage/nuage/internal/identity"
)

// CheckInMessage is the byte string a node signs in a check-in (docs/spec.md §7.1).
func CheckInMessage(c CheckIn) []byte {
	b := []byte("nuage-checkin-v1\x00")
	b = append(b, c.Node[:]...)
	b = binary.BigEndian.AppendUint16(b, uint16(len(c.Address)))
	b = append(b, c.Address...)
	b = binary.BigEndian.AppendUint64(b, uint64(c.Capacity))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Used))
	b = binary.BigEndian.AppendUint64(b, uint64(c.Time))
	return b
}

// SignCheckIn fills in c.Node and c.Signature.
func SignCheckIn(c *CheckIn, node *identity.Identity) {
	c.Node = node.ID()
	c.Signature = node.Sign(CheckInMessage(*c))
}

// VerifyCheckIn reports whether c is signed by the node it names.
func VerifyCheckIn(c CheckIn) bool {
	return len(c.Address) < 1<<16 && c.Node.Verify(CheckInMessage(c), c.Signature)
}
