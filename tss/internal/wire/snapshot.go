package wire

import (
	"encoding/binary"
	"errors"

	"github.com/rampart-signer/rampart/tss"
)

// The snapshot framing the DKG and the resharing share, after their own
// magic, version and identification:
//
//	abort cause u8 (running: 0) [| reason length u16 | reason]
//	| conflict count u16 | sender u64 per conflict
//	| message count u32 | (length u32 | message) per message

// maxReason bounds the abort reason a snapshot keeps.
const maxReason = 1 << 15

// AppendRunning appends the cause of a participant that has not aborted.
func AppendRunning(b []byte) []byte { return append(b, 0) }

// AppendAbort appends the cause of abort: the code in causes whose error it
// matches (caller when none does), then its message, cut to 32 KiB.
func AppendAbort(b []byte, abort error, causes map[uint8]error, caller uint8) []byte {
	cause := caller
	for c, e := range causes {
		if errors.Is(abort, e) {
			cause = c
		}
	}
	reason := abort.Error()
	if len(reason) > maxReason {
		reason = reason[:maxReason]
	}
	b = append(b, cause)
	b = binary.BigEndian.AppendUint16(b, uint16(len(reason)))
	return append(b, reason...)
}

// AppendConflicts appends the senders that sent conflicting messages.
func AppendConflicts(b []byte, ids []tss.ID) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
	}
	return b
}

// AppendMessages appends the messages a snapshot replays.
func AppendMessages(b []byte, msgs [][]byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(msgs)))
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(m)))
		b = append(b, m...)
	}
	return b
}

// Abort reads what [AppendRunning] or [AppendAbort] wrote: cause 0 and no
// reason for a running participant. A cause above last is malformed.
func (r *Reader) Abort(last uint8) (cause uint8, reason string) {
	cause = r.U8("snapshot abort cause")
	if cause != 0 {
		reason = string(r.Bytes(int(r.U16("snapshot abort reason length")), "snapshot abort reason"))
		if r.Err == nil && cause > last {
			r.Fail("unknown abort cause %d", cause)
		}
	}
	return cause, reason
}

// Messages reads what [AppendMessages] wrote, at most max messages. On an
// error it returns what it read; the error stays in r.
func (r *Reader) Messages(max int) [][]byte {
	nm := int(r.U32("snapshot message count"))
	if r.Err == nil && nm > max {
		r.Fail("snapshot claims %d messages, at most %d", nm, max)
	}
	if r.Err != nil {
		return nil
	}
	msgs := make([][]byte, 0, nm)
	for i := 0; i < nm && r.Err == nil; i++ {
		msgs = append(msgs, r.Bytes(int(r.U32("snapshot message length")), "snapshot message"))
	}
	return msgs
}

// AbortError is an abort restored from a snapshot: the original message,
// matching the package's Aborted error and the original cause (when
// known) with errors.Is.
type AbortError struct {
	Msg     string
	Aborted error
	Cause   error
}

func (e *AbortError) Error() string { return e.Msg }

// Is reports whether target is the package's abort error or the cause.
func (e *AbortError) Is(target error) bool {
	return target == e.Aborted || (e.Cause != nil && target == e.Cause)
}
