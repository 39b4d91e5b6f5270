package appliance

import (
	"context"
	"errors"
	"net/http"

	"github.com/rampart-signer/rampart/appliance/internal/web"
	"github.com/rampart-signer/rampart/internal/network"
	"github.com/rampart-signer/rampart/internal/signing"
	"github.com/rampart-signer/rampart/protect"
)

// apiError is a refusal, answered as the API's JSON error.
type apiError = web.Refusal

// refuse builds a refusal.
var refuse = web.Refuse

// requestError classifies an error from parsing or verifying a request.
func requestError(err error) *apiError {
	switch {
	case errors.Is(err, signing.ErrSigningRootMismatch):
		return refuse(http.StatusBadRequest, "signing_root_mismatch", "%v", err)
	case errors.Is(err, signing.ErrFuture):
		return refuse(http.StatusBadRequest, "future", "%v", err)
	case errors.Is(err, network.ErrGenesisValidatorsRoot), errors.Is(err, network.ErrUnknownFork),
		errors.Is(err, network.ErrWrongFork), errors.Is(err, signing.ErrForeignDomain):
		return refuse(http.StatusBadRequest, "wrong_network", "%v", err)
	default:
		return refuse(http.StatusBadRequest, "bad_request", "%v", err)
	}
}

// protectError maps a slashing-protection error to a refusal. Every error
// means no signature (fail closed); only the status differs.
func protectError(err error) *apiError {
	var re *protect.RefusalError
	switch {
	case errors.As(err, &re):
		return refuse(http.StatusPreconditionFailed, "slashing_"+slashingReason(re.Reason), "%v", err)
	case errors.Is(err, protect.ErrRefused):
		return refuse(http.StatusPreconditionFailed, "slashing", "signing refused by slashing protection: %v", err)
	case errors.Is(err, protect.ErrFuture):
		return refuse(http.StatusBadRequest, "future", "%v", err)
	case errors.Is(err, protect.ErrDisabled):
		return refuse(http.StatusNotFound, "unknown_account", "account is disabled on this signer")
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return refuse(http.StatusServiceUnavailable, "unavailable", "request ended before slashing protection recorded it")
	default:
		return refuse(http.StatusServiceUnavailable, "unavailable", "slashing protection unavailable: %v", err)
	}
}

func slashingReason(err error) string {
	switch {
	case errors.Is(err, protect.ErrDoubleProposal):
		return "double_proposal"
	case errors.Is(err, protect.ErrDoubleVote):
		return "double_vote"
	case errors.Is(err, protect.ErrSurroundVote):
		return "surround_vote"
	case errors.Is(err, protect.ErrBelowWatermark):
		return "below_watermark"
	case errors.Is(err, protect.ErrSourceAfterTarget):
		return "source_after_target"
	}
	return "other"
}
