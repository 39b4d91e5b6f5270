package adminapi

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/rampart-signer/rampart/internal/api"
	"github.com/rampart-signer/rampart/internal/deposit"
)

// PathCeremonies is the root of the key-generation ceremony endpoints, on
// every signer's participant listener (mutual TLS):
//
//	POST /rampart/v1/ceremonies                  start, at the coordinator (administrators)
//	POST /rampart/v1/ceremonies/reshare          start a resharing, at the coordinator (administrators)
//	GET  /rampart/v1/ceremonies/{id}             status (administrators, or the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/abort       abort (administrators, or the ceremony's coordinator)
//	PUT  /rampart/v1/ceremonies/{id}             join (the ceremony's coordinator relaying an administrator's start)
//	POST /rampart/v1/ceremonies/{id}/activate    activate (the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/finalize    finalise (the ceremony's coordinator)
//	POST /rampart/v1/ceremonies/{id}/messages    one dkg message (any participant)
//	GET  /rampart/v1/ceremonies/{id}/history     a repair's slashing history (its repaired participant)
const PathCeremonies = "/rampart/v1/ceremonies"

// MaxCeremonyValidators is the most validators one ceremony creates.
const MaxCeremonyValidators = 100_000

// Errors of the ceremony endpoints that callers decide on.
var (
	// ErrUnknownCeremony is returned for a ceremony id a signer has never
	// joined (404).
	ErrUnknownCeremony = errors.New("unknown ceremony")
	// ErrCeremonyAborted is returned for a ceremony that has ended without
	// accounts (410); the message gives the reason.
	ErrCeremonyAborted = errors.New("ceremony aborted")
)

// CeremonyState is one participant's state of a ceremony:
//
//	resuming   loaded from disk at start-up, snapshots not yet replayed
//	running    batches running
//	staged     every batch done, every share sealed and staged
//	activating the coordinator asked to activate; accounts being activated
//	active     accounts activated, waiting for the coordinator to finalise
//	complete   finalised: the accounts are the signer's like any other
//	aborting   ending without accounts: secrets and files being removed
//	aborted    ended without accounts; nothing of it is left
type CeremonyState string

// Participant states of a ceremony.
const (
	StateResuming   CeremonyState = "resuming"
	StateRunning    CeremonyState = "running"
	StateStaged     CeremonyState = "staged"
	StateActivating CeremonyState = "activating"
	StateActive     CeremonyState = "active"
	StateComplete   CeremonyState = "complete"
	StateAborting   CeremonyState = "aborting"
	StateAborted    CeremonyState = "aborted"
)

// Aborted reports whether the participant ended, or is ending, the
// ceremony without accounts.
func (s CeremonyState) Aborted() bool { return s == StateAborting || s == StateAborted }

// Staged reports whether every batch is done at the participant: its
// transcript is final.
func (s CeremonyState) Staged() bool {
	switch s {
	case StateStaged, StateActivating, StateActive, StateComplete:
		return true
	}
	return false
}

// CoordinationStage is the coordinator's stage of a ceremony:
//
//	generating  participants run the batches
//	activating  every participant staged the same transcript; activating
//	depositing  signing and verifying the deposits
//	finalizing  telling every participant the ceremony is complete
//	complete    accounts and deposit data ready
//	aborted     ended everywhere without accounts
type CoordinationStage string

// Coordination stages.
const (
	StageGenerating CoordinationStage = "generating"
	StageActivating CoordinationStage = "activating"
	StageDepositing CoordinationStage = "depositing"
	StageFinalizing CoordinationStage = "finalizing"
	StageComplete   CoordinationStage = "complete"
	StageAborted    CoordinationStage = "aborted"
)

// Ended reports whether the coordination is over, complete or aborted.
func (s CoordinationStage) Ended() bool { return s == StageComplete || s == StageAborted }

// StartCeremonyRequest is the body of POST /rampart/v1/ceremonies: the
// operator asks the signer it sends this to to coordinate a ceremony among
// every participant of the cluster.
type StartCeremonyRequest struct {
	// Validators is the number of validators to create.
	Validators int `json:"validators"`
	// Threshold is the t of the new accounts (a majority of the signers).
	Threshold int `json:"threshold"`
	// WithdrawalCredentials (0x01) and AmountGwei go into the deposit data.
	WithdrawalCredentials api.Root   `json:"withdrawal_credentials"`
	AmountGwei            api.Uint64 `json:"amount_gwei"`
	// ParticipantTimeout (a Go duration, default 2m) is how long a
	// participant may stay unreachable, or the ceremony make no progress,
	// before the ceremony is aborted everywhere.
	ParticipantTimeout string `json:"participant_timeout,omitempty"`
	// Timeout (a Go duration, default 1h) bounds the whole ceremony.
	Timeout string `json:"timeout,omitempty"`
	// BatchSize overrides how many validators each dkg batch creates.
	BatchSize int `json:"batch_size,omitempty"`
}

// Modes of a resharing.
const (
	// ReshareRefresh: the same signers, the same threshold, new shares
	// of the same keys.
	ReshareRefresh = "refresh"
	// ReshareRepair: the other signers give one signer (a replaced
	// server, same participant id) its shares again; no other share
	// changes, no key changes.
	ReshareRepair = "repair"
	// ReshareRedistribute: the accounts get a new configuration (other
	// members, another threshold: replace a signer by a new participant
	// id, 3-of-5 to 5-of-7, remove a signer for good); no key changes.
	ReshareRedistribute = "redistribute"
)

// StartReshareRequest is the body of POST /rampart/v1/ceremonies/reshare:
// the operator asks the signer it sends this to to coordinate a resharing
// of existing accounts among every participant of the cluster.
type StartReshareRequest struct {
	// Mode is what the resharing does: ReshareRefresh or ReshareRepair.
	Mode string `json:"mode"`
	// Participant is the signer a repair gives its shares.
	Participant api.Uint64 `json:"participant,omitempty"`
	// Helpers lists the signers that help a repair (at least the
	// threshold, the coordinating signer among them); empty means every
	// signer but Participant. For a redistribution, the dealers: current
	// members, at least the current threshold, the coordinating signer
	// among them; empty means every current member.
	Helpers []api.Uint64 `json:"helpers,omitempty"`
	// NewMembers and NewThreshold are a redistribution's new
	// configuration: participants of the cluster, the threshold a strict
	// majority of them.
	NewMembers   []api.Uint64 `json:"new_members,omitempty"`
	NewThreshold api.Uint64   `json:"new_threshold,omitempty"`
	// Accounts lists the accounts to reshare; empty means every account
	// the coordinating signer holds.
	Accounts []api.PublicKey `json:"accounts,omitempty"`
	// ParticipantTimeout, Timeout and BatchSize are as in
	// StartCeremonyRequest.
	ParticipantTimeout string `json:"participant_timeout,omitempty"`
	Timeout            string `json:"timeout,omitempty"`
	BatchSize          int    `json:"batch_size,omitempty"`
}

// StartCeremonyResponse names the ceremony started.
type StartCeremonyResponse struct {
	ID string `json:"id"`
}

// CeremonyStatus is one participant's view of a ceremony; at the
// coordinator it also carries the coordination.
type CeremonyStatus struct {
	ID               string        `json:"id"`
	Participant      api.Uint64    `json:"participant"`
	State            CeremonyState `json:"state"`
	Reason           string        `json:"reason,omitempty"`
	Validators       int           `json:"validators"`
	Batches          int           `json:"batches"`
	BatchesDone      int           `json:"batches_done"`
	ValidatorsDone   int           `json:"validators_done"`
	MessagesAccepted int           `json:"messages_accepted"`
	Waiting          []api.Uint64  `json:"waiting,omitempty"`
	// Transcript is the hash over every batch's confirmed transcript, once
	// every batch is done here.
	Transcript string    `json:"transcript,omitempty"`
	Updated    time.Time `json:"updated"`
	// Version counts the changes of this status at the signer that
	// answered; WaitCeremony waits for it to move past a given one.
	Version      uint64              `json:"version"`
	Coordination *CoordinationStatus `json:"coordination,omitempty"`
}

// CoordinationStatus is the coordinator's view of a ceremony.
type CoordinationStatus struct {
	// Kind is empty for key generation, else the resharing's mode.
	Kind string `json:"kind,omitempty"`
	// Repaired is the participant a repair gives its shares.
	Repaired api.Uint64 `json:"repaired,omitempty"`
	// A redistribution's configurations: OldMembers at Threshold become
	// NewMembers at NewThreshold, generation Generation. Left lists the
	// old members that took part and leave (their shares are destroyed at
	// completion), NotReached those that leave without taking part (down:
	// their shares are theirs to remove).
	OldMembers   []api.Uint64      `json:"old_members,omitempty"`
	NewMembers   []api.Uint64      `json:"new_members,omitempty"`
	NewThreshold api.Uint64        `json:"new_threshold,omitempty"`
	Generation   api.Uint64        `json:"generation,omitempty"`
	Left         []api.Uint64      `json:"left,omitempty"`
	NotReached   []api.Uint64      `json:"not_reached,omitempty"`
	Stage        CoordinationStage `json:"stage"`
	Reason       string            `json:"reason,omitempty"`
	Started      time.Time         `json:"started"`
	// ValidatorsGenerated counts validators done at every participant.
	ValidatorsGenerated int `json:"validators_generated"`
	// DepositsSigned counts verified deposit signatures.
	DepositsSigned        int        `json:"deposits_signed"`
	Validators            int        `json:"validators"`
	Threshold             int        `json:"threshold"`
	WithdrawalCredentials api.Root   `json:"withdrawal_credentials"`
	AmountGwei            api.Uint64 `json:"amount_gwei"`
	GenesisForkVersion    string     `json:"genesis_fork_version"`
	NetworkName           string     `json:"network_name"`
	// Participants is the last status seen from each participant.
	Participants []CeremonyStatus `json:"participants"`
	// Accounts and DepositData are set once complete, in validator order
	// (a refresh has no deposit data).
	Accounts    []api.PublicKey `json:"accounts,omitempty"`
	DepositData []deposit.Data  `json:"deposit_data,omitempty"`
}

// Deposit returns the deposit parameters the ceremony was started with.
func (s *CoordinationStatus) Deposit() (deposit.Params, error) {
	var fork [4]byte
	if err := deposit.LowerHex(strings.TrimPrefix(s.GenesisForkVersion, "0x"), fork[:]); err != nil {
		return deposit.Params{}, fmt.Errorf("genesis_fork_version: %v", err)
	}
	return deposit.Params{WithdrawalCredentials: s.WithdrawalCredentials, AmountGwei: uint64(s.AmountGwei), GenesisForkVersion: fork, NetworkName: s.NetworkName}, nil
}

// Requests between the signers of a ceremony.
type (
	// AbortRequest is the body of POST /rampart/v1/ceremonies/{id}/abort.
	AbortRequest struct {
		Reason string `json:"reason"`
	}
	// ActivateRequest is the body of POST /rampart/v1/ceremonies/{id}/activate.
	ActivateRequest struct {
		Transcript string `json:"transcript"`
	}
	// MessageRequest is the body of POST /rampart/v1/ceremonies/{id}/messages.
	MessageRequest struct {
		Message []byte `json:"message"`
	}
)
