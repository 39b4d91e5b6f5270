package cli

import (
	"io"
	"log/slog"
)

// NewLogger returns a daemon's logger on w: level is debug, info, warn or
// error (anything else is info), format text or json (anything else is
// text). The daemons validate both in their configuration first.
func NewLogger(w io.Writer, level, format string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	opts := &slog.HandlerOptions{Level: l}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
