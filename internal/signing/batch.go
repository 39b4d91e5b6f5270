package signing

import (
	"fmt"

	"github.com/attestantio/go-eth2-client/spec/phase0"
)

// Batch is a BatchSigningRequest: one request to be signed by each of
// several keys (POST /api/v1/eth2/sign and /api/v1/eth2/distributed/sign).
type Batch struct {
	// Identifiers are the public keys that sign, in request order; results
	// are returned in the same order.
	Identifiers []phase0.BLSPubKey
	// Request is the common request, of a batchable type.
	Request *Request
}

// ParseBatch decodes a batch request strictly, like [ParseRequest], and
// also refuses an empty identifier list, a key listed twice (compared as
// bytes, so hex casing does not hide a repeat), any member besides
// identifiers and signing_request, and a request type that is not
// batchable ([Type.Batchable]). Errors name the field, for instance
// "identifiers[2]" or "signing_request.attestation.slot". The Request's
// [Request.Received] is the signing_request member of data, which the
// caller must not change afterwards.
func ParseBatch(data []byte) (*Batch, error) {
	o, err := parseObject(data)
	if err != nil {
		return nil, err
	}
	if err := o.only("identifiers", "signing_request"); err != nil {
		return nil, err
	}
	b := &Batch{}
	elems, err := o.array("identifiers", MaxRequestSize)
	if err != nil {
		return nil, err
	}
	if len(elems) == 0 {
		return nil, o.errorf("identifiers", "empty; a batch needs at least one key")
	}
	seen := make(map[phase0.BLSPubKey]int, len(elems))
	for i, e := range elems {
		var key phase0.BLSPubKey
		path := fmt.Sprintf("identifiers[%d]", i)
		if reason := decodeHex(e, key[:]); reason != "" {
			return nil, &FieldError{Field: path, Reason: reason}
		}
		if j, dup := seen[key]; dup {
			return nil, &FieldError{Field: path, Reason: fmt.Sprintf("the same key as identifiers[%d]", j)}
		}
		seen[key] = i
		b.Identifiers = append(b.Identifiers, key)
	}
	rv, err := o.require("signing_request")
	if err != nil {
		return nil, err
	}
	ro, err := rv.object(o.field("signing_request"))
	if err != nil {
		return nil, err
	}
	if b.Request, err = decodeRequest(ro); err != nil {
		return nil, err
	}
	b.Request.from = &received{body: memberBytes(data, rv), req: b.Request}
	if !b.Request.Type.Batchable() {
		return nil, ro.errorf("type", "%s requests cannot be batched; send them to the single-key endpoint", b.Request.Type)
	}
	return b, nil
}
