package main

import (
	"context"
	"errors"

	"github.com/rampart-signer/rampart/internal/cli"
)

// run starts the daemon from its configuration file.
func run(ctx context.Context, env *cli.Env, configPath string) error {
	return errors.New("the signing daemon is not part of this build yet; see README.md")
}
