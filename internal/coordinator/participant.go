package coordinator

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/peer"
	"github.com/rampart-signer/rampart/tss"
)

// Participant is one threshold signer as the coordinator uses it: over HTTPS
// ([HTTPParticipant]) or in process (the signer's own participant).
type Participant interface {
	// ID is the participant id the operator configured for this endpoint;
	// answers are bound to it, never to the id an answer claims.
	ID() tss.ID
	// Accounts lists the distributed accounts the participant holds.
	Accounts(ctx context.Context) ([]api.Account, error)
	// SignPartial sends one signing request (JSON) for one composite key.
	SignPartial(ctx context.Context, identifier api.PublicKey, request []byte) (api.PartialSignature, error)
	// SignPartialBatch sends a batch signing request (JSON body with
	// identifiers and signing_request) and returns one result per
	// identifier, in order.
	SignPartialBatch(ctx context.Context, body []byte) ([]api.PartialBatchResult, error)
}

// StatusError is a participant's refusal with an HTTP status, as the
// Remote Signing API defines them (400, 403, 404, 412, 503...); it is
// internal/peer's, which decodes every signer's refusals.
type StatusError = peer.StatusError

// Status returns the HTTP status carried by err, or 0.
func Status(err error) int { return peer.Status(err) }

// Errors a caller of Sign or SignBatch decides on.
var (
	// ErrUnknownAccount is returned for a composite key no discovered
	// account has (404).
	ErrUnknownAccount = errors.New("coordinator: unknown account")
	// ErrNotEnoughPartials is returned when fewer than threshold
	// participants gave a valid partial signature. The error is a
	// [*ShortfallError] naming each participant and why.
	ErrNotEnoughPartials = errors.New("coordinator: not enough valid partial signatures")
	// ErrDiscovery is returned when the participants' account views do not
	// fit together.
	ErrDiscovery = errors.New("coordinator: inconsistent discovery")
)

// ParticipantFailure says why one participant gave no share.
type ParticipantFailure struct {
	ID  tss.ID
	Err error
}

// ShortfallError reports a signature that could not be recovered.
type ShortfallError struct {
	// Threshold is the number of valid partial signatures needed.
	Threshold int
	// Valid is the number of valid partial signatures gathered.
	Valid int
	// Members is the number of participants of the account (n).
	Members int
	// Failures says why each other participant gave no share.
	Failures []ParticipantFailure
	// used is the account as the request saw it, to tell whether a later
	// discovery knows more.
	used *account
}

// Bounds of the message, so that it stays readable (and fits a log line
// and an HTTP answer) whatever the number of participants.
const (
	maxReasonGroups = 4   // distinct reasons spelt out
	maxGroupIDs     = 8   // participant ids listed per reason
	maxReasonLen    = 320 // bytes of one reason: a slashing refusal with its key and root fits
)

// Error says, once per distinct reason, how many participants refused or
// failed and why, and how many valid partials were gathered against the
// number needed, e.g. "coordinator: no signature: 0 valid partial
// signatures, 3 needed; 3 of 3 signers refused (status 412): refused by
// slashing protection ...: double proposal: ... (participants 1, 2, 3)".
// Refusals come first. The message is bounded in size: at most
// maxReasonGroups reasons, maxGroupIDs ids each, maxReasonLen bytes per
// reason; what is left out is counted.
func (e *ShortfallError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "coordinator: no signature: %d valid partial signature%s, %d needed", e.Valid, plural(e.Valid), e.Threshold)
	n := e.Members
	if n < e.Valid+len(e.Failures) {
		n = e.Valid + len(e.Failures)
	}
	groups := groupFailures(e.Failures)
	for i, g := range groups {
		if i == maxReasonGroups {
			rest := 0
			for _, g := range groups[i:] {
				rest += len(g.ids)
			}
			fmt.Fprintf(&b, "; %d more signer%s, for %d other reasons", rest, plural(rest), len(groups)-i)
			break
		}
		verb := "failed"
		if g.code >= 400 && g.code < 500 {
			verb = fmt.Sprintf("refused (status %d)", g.code)
		} else if g.code != 0 {
			verb = fmt.Sprintf("failed (status %d)", g.code)
		}
		fmt.Fprintf(&b, "; %d of %d signers %s: %s (%s)", len(g.ids), n, verb, g.reason, idList(g.ids))
	}
	return b.String()
}

// failureGroup is the participants that failed for one reason.
type failureGroup struct {
	code   int // HTTP status of a refusal, 0 for other failures
	reason string
	ids    []tss.ID
}

// groupFailures groups failures by status and reason: refusals first
// (most participants first), then other failures.
func groupFailures(fs []ParticipantFailure) []*failureGroup {
	type key struct {
		code   int
		reason string
	}
	by := map[key]*failureGroup{}
	var out []*failureGroup
	for _, f := range fs {
		k := key{Status(f.Err), failureReason(f.Err)}
		g := by[k]
		if g == nil {
			g = &failureGroup{code: k.code, reason: k.reason}
			by[k] = g
			out = append(out, g)
		}
		g.ids = append(g.ids, f.ID)
	}
	refusal := func(g *failureGroup) bool { return g.code >= 400 && g.code < 500 }
	sort.SliceStable(out, func(i, j int) bool {
		if ri, rj := refusal(out[i]), refusal(out[j]); ri != rj {
			return ri
		}
		if len(out[i].ids) != len(out[j].ids) {
			return len(out[i].ids) > len(out[j].ids)
		}
		return slices.Min(out[i].ids) < slices.Min(out[j].ids)
	})
	for _, g := range out {
		slices.Sort(g.ids)
	}
	return out
}

// failureReason is what a failure says, without what differs from one
// participant to the next for the same cause (its address), so that
// identical causes group: a refusal's message, "timed out", or a
// transport error without the addresses.
func failureReason(err error) string {
	var se *StatusError
	var op *net.OpError
	var s string
	switch {
	case errors.As(err, &se):
		s = se.Message
		if s == "" {
			s = http.StatusText(se.Code)
		}
	case errors.Is(err, context.DeadlineExceeded):
		s = "timed out"
	case errors.As(err, &op):
		s = op.Op + ": " + op.Err.Error()
	default:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		s = err.Error()
	}
	if len(s) > maxReasonLen {
		cut := maxReasonLen
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut] + "..."
	}
	return s
}

// idList is "participant 3" or "participants 1, 2, 3" (at most
// maxGroupIDs ids, then "and N more").
func idList(ids []tss.ID) string {
	if len(ids) == 1 {
		return "participant " + ids[0].String()
	}
	parts := make([]string, 0, min(len(ids), maxGroupIDs))
	for _, id := range ids[:min(len(ids), maxGroupIDs)] {
		parts = append(parts, id.String())
	}
	s := "participants " + strings.Join(parts, ", ")
	if len(ids) > maxGroupIDs {
		s += fmt.Sprintf(" and %d more", len(ids)-maxGroupIDs)
	}
	return s
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// NamedConflict is what participants that refused a double vote had
// already signed (api.Conflict), and which participants named it.
type NamedConflict struct {
	api.Conflict
	By []tss.ID
}

// Conflicts lists what the participants that refused a double vote said
// they had already signed, most named first. Participants naming the same
// root with different data are kept apart: the caller checks the data
// against the root.
func (e *ShortfallError) Conflicts() []NamedConflict {
	var out []NamedConflict
	for _, f := range e.Failures {
		var se *StatusError
		if !errors.As(f.Err, &se) || se.Conflict == nil {
			continue
		}
		i := slices.IndexFunc(out, func(n NamedConflict) bool {
			return n.SigningRoot == se.Conflict.SigningRoot && bytes.Equal(n.AttestationData, se.Conflict.AttestationData)
		})
		if i < 0 {
			out = append(out, NamedConflict{Conflict: *se.Conflict})
			i = len(out) - 1
		}
		if !slices.Contains(out[i].By, f.ID) {
			out[i].By = append(out[i].By, f.ID)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return len(out[i].By) > len(out[j].By) })
	return out
}

// Unwrap makes errors.Is(err, ErrNotEnoughPartials) hold.
func (e *ShortfallError) Unwrap() error { return ErrNotEnoughPartials }

// undiscovered reports whether some member was not asked for want of a
// component key.
func (e *ShortfallError) undiscovered() bool {
	for _, f := range e.Failures {
		if errors.Is(f.Err, errUndiscovered) {
			return true
		}
	}
	return false
}

// invalidPartials reports whether some member's partial signature did not
// verify under its component key known here (maybe an old one: a
// resharing changed it).
func (e *ShortfallError) invalidPartials() bool {
	for _, f := range e.Failures {
		if errors.Is(f.Err, errInvalidPartial) {
			return true
		}
	}
	return false
}

// errInvalidPartial is a partial signature that does not verify under the
// member's component key.
var errInvalidPartial = errors.New("invalid partial signature")

// Code is the HTTP status the coordinator's caller should answer with: a
// slashing refusal (412) from any participant wins, since it is a safety
// decision the client must see; then a request error every answering
// participant agreed on (400, 403, 404); otherwise 503, the cluster being
// temporarily short of participants.
func (e *ShortfallError) Code() int {
	codes := map[int]int{}
	answered := 0
	for _, f := range e.Failures {
		if c := Status(f.Err); c != 0 {
			codes[c]++
			answered++
		}
	}
	if codes[412] > 0 {
		return 412
	}
	for _, c := range []int{400, 403, 404} {
		if answered > 0 && codes[c] == answered {
			return c
		}
	}
	return 503
}
