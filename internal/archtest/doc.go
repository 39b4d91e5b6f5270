// Package archtest holds the test that keeps the module's imports pointing
// one way (docs/STYLE.md, "Imports point one way"). It has no code of its
// own; the rules live in rules.go so they can be tested on made-up graphs.
package archtest
