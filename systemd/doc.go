// Package systemd holds Rampart's systemd units (the *.service files beside
// this one, installed by the .deb packages) and the tests that keep their
// sandbox from eroding. It has no Go API.
//
// # Security
//
// rampart-signer.service runs the process that holds unsealed key shares.
// Its exposure under `systemd-analyze security --offline=true` must stay at
// or below [MaxExposure]; the tests fail when a change raises it or drops a
// setting the signer's safety depends on (memory locking, no core dumps,
// the PIN as a credential, the notify protocol and watchdog).
package systemd

// MaxExposure is the highest `systemd-analyze security` exposure level
// (0.0 best, 10.0 worst) any Rampart unit may have.
const MaxExposure = 1.0
