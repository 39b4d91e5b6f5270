package cli

import (
	"fmt"
	"io"
	"log/slog"
)

// LogConfig is the log section of the daemons' configurations.
type LogConfig struct {
	// Level is debug, info, warn or error.
	Level string `yaml:"level"`
	// Format is text or json.
	Format string `yaml:"format"`
}

// Validate names the first bad field by its YAML path under log.
func (c LogConfig) Validate() error {
	switch c.Level {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log.level: %q is not debug, info, warn or error", c.Level)
	}
	switch c.Format {
	case "text", "json":
	default:
		return fmt.Errorf("log.format: %q is not text or json", c.Format)
	}
	return nil
}

// NewLogger returns a daemon's logger on w: level is debug, info, warn or
// error (anything else is info), format text or json (anything else is
// text). The daemons validate both in their configuration first.
func (c LogConfig) NewLogger(w io.Writer) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: l}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
