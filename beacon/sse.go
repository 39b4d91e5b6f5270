package beacon

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxEventSize bounds one server-sent event (all its lines together): a
// node cannot make the client buffer without limit. Head and reorg events
// are a few hundred bytes.
const maxEventSize = 64 << 10

// errEventTooLarge: a node sent an event or line beyond maxEventSize.
var errEventTooLarge = fmt.Errorf("server-sent event larger than %d bytes", maxEventSize)

// sseEvent is one dispatched server-sent event.
type sseEvent struct {
	// Name is the event's type ("event:" field); "" for the default type.
	Name string
	// Data is the "data:" lines joined with "\n".
	Data []byte
}

// sseReader parses a text/event-stream (WHATWG HTML, "Server-sent events",
// event stream interpretation): lines end in LF, CR or CRLF; "event" sets
// the type, each "data" line adds to the data; a blank line dispatches an
// event with data; comments (":") and the "id" and "retry" fields are
// ignored, as are unknown fields.
type sseReader struct {
	r *bufio.Reader
	// pendingCR is set after a line ended in CR, so that an LF right after
	// it is not taken for an empty line.
	pendingCR bool
}

func newSSEReader(r io.Reader) *sseReader { return &sseReader{r: bufio.NewReaderSize(r, 4096)} }

// next returns the next event, io.EOF at the end of the stream (a partial
// event at the end is dropped, as the standard says), or an error.
func (s *sseReader) next() (sseEvent, error) {
	var ev sseEvent
	var data bytes.Buffer
	hasData := false
	size := 0
	for {
		line, err := s.line()
		if err != nil {
			return sseEvent{}, err
		}
		size += len(line) + 1
		if size > maxEventSize {
			return sseEvent{}, errEventTooLarge
		}
		if len(line) == 0 {
			if hasData {
				ev.Data = data.Bytes()
				return ev, nil
			}
			ev = sseEvent{}
			continue
		}
		if line[0] == ':' {
			continue
		}
		field, value := line, []byte(nil)
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			field, value = line[:i], line[i+1:]
			value = bytes.TrimPrefix(value, []byte(" "))
		}
		switch string(field) {
		case "event":
			ev.Name = string(value)
		case "data":
			if hasData {
				data.WriteByte('\n')
			}
			data.Write(value)
			hasData = true
		}
	}
}

// line reads one line without its terminator.
func (s *sseReader) line() ([]byte, error) {
	var out []byte
	for {
		b, err := s.r.ReadByte()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil, io.EOF
			}
			return nil, err
		}
		if s.pendingCR {
			s.pendingCR = false
			if b == '\n' {
				continue
			}
		}
		switch b {
		case '\n':
			return out, nil
		case '\r':
			s.pendingCR = true
			return out, nil
		}
		if len(out) >= maxEventSize {
			return nil, errEventTooLarge
		}
		out = append(out, b)
	}
}
