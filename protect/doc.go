// Package protect is Rampart's slashing protection: for each validator
// (composite public key) of one network it decides whether a block or an
// attestation may be signed, records what it allows durably before allowing
// it, and imports and exports EIP-3076 interchange files.
//
// # Rules
//
// Complete strategy with low watermarks. For each key the database keeps
// recent history with signing roots, plus three watermarks:
//
//   - blocks: refused at a slot already signed with another or an unknown
//     root, and at or below the block watermark;
//   - attestations: refused with source after target, on a target already
//     signed with another or an unknown root (double vote), when surrounding
//     or surrounded by a kept attestation, with a source below the source
//     watermark or a target at or below the target watermark;
//   - an exact repeat of a kept message (same slot, or source and target,
//     and the same signing root) is allowed, so coordinators can retry;
//   - requests and files for another genesis validators root are refused.
//
// Watermarks come from a key's first import (the minima EIP-3076
// prescribes; later imports add records only, so the conditions hold over
// everything imported, as the interchange suite's complete-strategy
// expectations require; imports read file by file, RaiseWatermarks and
// those of a disabled key, raise them to each file's minima) and from
// pruning: history more than
// Config.HistoryEpochs old, and attestation records beyond 2*HistoryEpochs
// per key, is folded into them, which raises them; nothing is ever
// forgotten in a way that would allow a message that was refused before.
//
// Nothing beyond Config.Limit is approved or imported ([ErrFuture]): a
// far-future record would refuse every honest message until the clock
// caught up with it.
//
// # Intended use
//
// The signer (package appliance) opens one database at start-up, compares
// [DB.GenesisValidatorsRoot] with its network (Config.Limit derived from the
// network's wall clock), starts [DB.Run] for
// checkpointing, and for each block or attestation:
//
//	permit, err := db.ApproveAttestation(ctx, gvr, compositeKey, protect.Attestation{...})
//	if err != nil {
//		return err // 412 if errors.Is(err, protect.ErrRefused), 400 if ErrFuture; never sign
//	}
//	sig, err := permit.Sign(share)
//
// A slot burst goes through [DB.ApproveAttestations] in one call. Keys come
// in through [DB.Import] (with their history) or [DB.Register] (fresh from
// key generation); keymanager DELETE is [DB.Disable] then [DB.Export].
// Small named values another part of the signer must keep as durable as
// the slashing records ride in the same commits: [DB.SetAnchor],
// [DB.Anchor], [DB.Flush], and [ReadAnchor] for offline readers (the audit
// log anchors its head this way). [WhenDecided] lets a caller start such
// work while the commit's fsync runs.
//
// Offline import and export (rampartctl slashing) open the file while the
// signer is stopped; a running signer's lock makes them fail with
// [ErrInUse] after Config.LockTimeout instead of waiting.
//
// # Security
//
//   - Crash-safe order by construction: a [Permit] can only be obtained from
//     a commit that has been fsync'd with the record of its message, and
//     [Permit.Sign] is the way to the partial signature. A crash at any
//     point loses at most records of messages that were never permitted.
//   - Group commit: concurrent requests are decided one at a time under one
//     lock against the in-memory index (so two conflicting requests can
//     never both pass), and their records share one transaction. A verdict
//     is returned only after the commit that holds its record; an exact
//     repeat waits for the commit of what it repeats.
//   - Fail closed: if a write fails, the database refuses everything until
//     it is reopened, because after an fsync error the file's state is
//     unknown. Cancelling a request's context gives no permit.
//   - The file carries a schema version, a magic value and CRC-32C checksums
//     on every journal entry and snapshot; a damaged or foreign file is
//     refused at open, never half-read. A missing file is an error: a new
//     database is only made by [Create], never by accident after a lost
//     state directory.
//   - Imports validate the whole document before anything is written, are
//     one transaction, and only ever add refusals.
//   - No secrets are held here; a [Permit] carries a public key and a
//     signing root only, and signs with a share the caller owns.
package protect
