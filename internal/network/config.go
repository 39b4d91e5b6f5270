package network

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/attestantio/go-eth2-client/spec"
	"github.com/attestantio/go-eth2-client/spec/phase0"
	yaml "go.yaml.in/yaml/v3"
)

// MaxConfigSize bounds the config files ParseConfig reads; real ones are a
// few kilobytes.
const MaxConfigSize = 1 << 20

// forkKey names a fork after phase0 and the prefix of its config keys
// (<PREFIX>_FORK_VERSION, <PREFIX>_FORK_EPOCH).
type forkKey struct {
	name   spec.DataVersion
	prefix string
}

// forkKeys returns the forks a config can schedule, in specification order.
func forkKeys() []forkKey {
	return []forkKey{
		{spec.DataVersionAltair, "ALTAIR"},
		{spec.DataVersionBellatrix, "BELLATRIX"},
		{spec.DataVersionCapella, "CAPELLA"},
		{spec.DataVersionDeneb, "DENEB"},
		{spec.DataVersionElectra, "ELECTRA"},
		{spec.DataVersionFulu, "FULU"},
		{spec.DataVersionGloas, "GLOAS"},
	}
}

// Config keys this package interprets (besides the fork keys).
const (
	keyPresetBase         = "PRESET_BASE"
	keyConfigName         = "CONFIG_NAME"
	keyGenesisForkVersion = "GENESIS_FORK_VERSION"
	keyMinGenesisTime     = "MIN_GENESIS_TIME"
	keyGenesisDelay       = "GENESIS_DELAY"
	keySecondsPerSlot     = "SECONDS_PER_SLOT"
	keySlotDurationMS     = "SLOT_DURATION_MS"
	keyDepositChainID     = "DEPOSIT_CHAIN_ID"
	keyDepositContract    = "DEPOSIT_CONTRACT_ADDRESS"
	// Preset values: /eth/v1/config/spec serves them with the config, and
	// they must then agree with PRESET_BASE.
	keySlotsPerEpoch             = "SLOTS_PER_EPOCH"
	keySyncCommitteeSize         = "SYNC_COMMITTEE_SIZE"
	keyMaxCommitteesPerSlot      = "MAX_COMMITTEES_PER_SLOT"
	keyMaxValidatorsPerCommittee = "MAX_VALIDATORS_PER_COMMITTEE"
)

var (
	configKeyPattern  = regexp.MustCompile(`^[A-Z][A-Z0-9_]*$`)
	configNamePattern = regexp.MustCompile(`^[a-z0-9-]{1,64}$`)
)

// ParseConfig builds a custom network from a consensus-specs config.yaml
// (the file beacon nodes read with --network-config / --testnet-dir) and
// the network's genesis validators root, which configs do not carry. It
// also accepts the JSON that /eth/v1/config/spec serves, whose values are
// all strings, with or without its {"data": ...} envelope.
//
// Only the keys that affect signing are interpreted and validated; others
// are kept (see [Network.ConfigValue]). A config whose CONFIG_NAME is a
// built-in network's name must describe that network exactly; the built-in
// network is then returned.
func ParseConfig(data []byte, genesisValidatorsRoot phase0.Root) (*Network, error) {
	n, err := parseConfig(data, genesisValidatorsRoot)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return n, nil
}

func parseConfig(data []byte, gvr phase0.Root) (*Network, error) {
	if len(data) > MaxConfigSize {
		return nil, fmt.Errorf("config has %d bytes, more than %d", len(data), MaxConfigSize)
	}
	if gvr == (phase0.Root{}) {
		return nil, fmt.Errorf("genesis validators root is zero")
	}
	keys, err := configMapping(data)
	if err != nil {
		return nil, err
	}
	c := &configReader{keys: keys, used: map[string]bool{}}
	n := &Network{name: "custom", gvr: gvr}

	presetName, err := c.required(keyPresetBase)
	if err != nil {
		return nil, err
	}
	preset, ok := presetByName(presetName)
	if !ok {
		return nil, fmt.Errorf("%s: unknown preset %q (want mainnet or minimal)", keyPresetBase, presetName)
	}
	if err := c.checkPreset(preset); err != nil {
		return nil, err
	}
	// SLOTS_PER_EPOCH may differ from the preset in a custom network
	// (devnets shorten epochs to finalise sooner): no container a signer
	// hashes has a size that depends on it. A built-in network's name
	// with another value is still refused below (sameChain).
	if v, ok, err := c.uint64(keySlotsPerEpoch); err != nil {
		return nil, err
	} else if ok {
		if v < 1 || v > 1<<16 {
			return nil, fmt.Errorf("%s: %d is not between 1 and 65536", keySlotsPerEpoch, v)
		}
		preset.SlotsPerEpoch = v
	}
	n.preset = preset

	if name, ok, err := c.optional(keyConfigName); err != nil {
		return nil, err
	} else if ok {
		if !configNamePattern.MatchString(name) {
			return nil, fmt.Errorf("%s: %q is not a network name (lower-case letters, digits and '-')", keyConfigName, name)
		}
		n.name = name
	}

	if n.forks, err = c.forks(); err != nil {
		return nil, err
	}
	if n.genesisTime, n.minGenesisTime, err = c.genesisTime(); err != nil {
		return nil, err
	}
	if n.slotDuration, err = c.slotDuration(); err != nil {
		return nil, err
	}
	if err := c.deposit(n); err != nil {
		return nil, err
	}
	if err := c.unknownForks(); err != nil {
		return nil, err
	}
	if n.extra, err = c.extra(); err != nil {
		return nil, err
	}

	if b, err := Builtin(n.name); err == nil {
		if diff := b.sameChain(n); diff != "" {
			return nil, fmt.Errorf("%s: %q names a built-in network, but the config differs from it: %s", keyConfigName, n.name, diff)
		}
		b.extra = n.extra
		return b, nil
	}
	return n, nil
}

// configMapping decodes the top-level mapping of a config into its keys.
func configMapping(data []byte) (map[string]*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, fmt.Errorf("config is empty")
	}
	if err := refuseAliases(&doc); err != nil {
		return nil, err
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("config is not a mapping of keys to values")
	}
	// /eth/v1/config/spec wraps the config in {"data": {...}}.
	if len(root.Content) == 2 && root.Content[0].Value == "data" && root.Content[1].Kind == yaml.MappingNode {
		root = root.Content[1]
	}
	keys := make(map[string]*yaml.Node, len(root.Content)/2)
	for i := 0; i+1 < len(root.Content); i += 2 {
		k := root.Content[i]
		if k.Kind != yaml.ScalarNode || !configKeyPattern.MatchString(k.Value) {
			return nil, fmt.Errorf("line %d: key %q is not a config key (upper-case letters, digits and '_')", k.Line, k.Value)
		}
		if _, dup := keys[k.Value]; dup {
			return nil, fmt.Errorf("%s: defined twice", k.Value)
		}
		keys[k.Value] = root.Content[i+1]
	}
	return keys, nil
}

// refuseAliases refuses YAML anchors and aliases. Configs never use them,
// and an alias can name a value that hides where it is used, or expand to
// exponentially many nodes.
func refuseAliases(n *yaml.Node) error {
	if n.Kind == yaml.AliasNode || n.Anchor != "" {
		return fmt.Errorf("line %d: YAML anchors and aliases are not supported in a network config", n.Line)
	}
	for _, c := range n.Content {
		if err := refuseAliases(c); err != nil {
			return err
		}
	}
	return nil
}

// configReader reads keys from a config, remembering which ones it used.
type configReader struct {
	keys map[string]*yaml.Node
	used map[string]bool
}

// optional returns the scalar value of key, if present.
func (c *configReader) optional(key string) (string, bool, error) {
	node, ok := c.keys[key]
	if !ok {
		return "", false, nil
	}
	c.used[key] = true
	if node.Kind != yaml.ScalarNode || node.Tag == "!!null" {
		return "", false, fmt.Errorf("%s: want a single value", key)
	}
	return node.Value, true, nil
}

func (c *configReader) required(key string) (string, error) {
	s, ok, err := c.optional(key)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", fmt.Errorf("%s: missing", key)
	}
	return s, nil
}

// uint64 returns the decimal value of key, if present.
func (c *configReader) uint64(key string) (uint64, bool, error) {
	s, ok, err := c.optional(key)
	if err != nil || !ok {
		return 0, ok, err
	}
	u, err := parseUint(s)
	if err != nil {
		return 0, false, fmt.Errorf("%s: %w", key, err)
	}
	return u, true, nil
}

func (c *configReader) version(key string) (phase0.Version, error) {
	s, err := c.required(key)
	if err != nil {
		return phase0.Version{}, err
	}
	var v phase0.Version
	if err := decodeHexInto(v[:], s); err != nil {
		return v, fmt.Errorf("%s: %w", key, err)
	}
	return v, nil
}

// checkPreset refuses preset values that disagree with PRESET_BASE.
func (c *configReader) checkPreset(p Preset) error {
	for _, want := range []struct {
		key   string
		value uint64
	}{
		{keySyncCommitteeSize, p.SyncCommitteeSize},
		{keyMaxCommitteesPerSlot, p.MaxCommitteesPerSlot},
		{keyMaxValidatorsPerCommittee, p.MaxValidatorsPerCommittee},
	} {
		got, ok, err := c.uint64(want.key)
		if err != nil {
			return err
		}
		if ok && got != want.value {
			return fmt.Errorf("%s: %d, but the %s preset has %d", want.key, got, p.Name, want.value)
		}
	}
	return nil
}

// forks reads the fork schedule.
func (c *configReader) forks() ([]Fork, error) {
	genesis, err := c.version(keyGenesisForkVersion)
	if err != nil {
		return nil, err
	}
	forks := []Fork{{Name: spec.DataVersionPhase0, PreviousVersion: genesis, Version: genesis, Epoch: 0}}
	unscheduled := ""
	for _, fk := range forkKeys() {
		vKey, eKey := fk.prefix+"_FORK_VERSION", fk.prefix+"_FORK_EPOCH"
		_, hasV := c.keys[vKey]
		_, hasE := c.keys[eKey]
		switch {
		case !hasV && !hasE:
			unscheduled = fk.prefix
			continue
		case !hasE:
			return nil, fmt.Errorf("%s: missing (%s is set)", eKey, vKey)
		case !hasV:
			return nil, fmt.Errorf("%s: missing (%s is set)", vKey, eKey)
		}
		version, err := c.version(vKey)
		if err != nil {
			return nil, err
		}
		epoch, _, err := c.uint64(eKey)
		if err != nil {
			return nil, err
		}
		if phase0.Epoch(epoch) == FarFutureEpoch {
			unscheduled = fk.prefix
			continue
		}
		last := forks[len(forks)-1]
		if unscheduled != "" {
			return nil, fmt.Errorf("%s: %s is scheduled at epoch %d but %s is not", eKey, fk.prefix, epoch, unscheduled)
		}
		if phase0.Epoch(epoch) < last.Epoch {
			return nil, fmt.Errorf("%s: %d is before the %s fork at epoch %d; forks must be in order", eKey, epoch, strings.ToUpper(last.Name.String()), last.Epoch)
		}
		for _, f := range forks {
			if f.Version == version {
				return nil, fmt.Errorf("%s: %#x is also the %s fork version", vKey, version, strings.ToUpper(f.Name.String()))
			}
		}
		forks = append(forks, Fork{Name: fk.name, PreviousVersion: last.Version, Version: version, Epoch: phase0.Epoch(epoch)})
	}
	return forks, nil
}

// unknownForks refuses forks this package cannot name that the config
// schedules: across such a fork it would not know the version that applies.
func (c *configReader) unknownForks() error {
	var keys []string
	for key := range c.keys {
		if strings.HasSuffix(key, "_FORK_EPOCH") && !c.used[key] {
			keys = append(keys, key)
		}
	}
	sort.Strings(keys)
	for _, key := range keys {
		epoch, _, err := c.uint64(key)
		if err != nil {
			return err
		}
		if phase0.Epoch(epoch) != FarFutureEpoch {
			return fmt.Errorf("%s: fork %s is scheduled at epoch %d, but this signer does not know that fork and cannot sign across it", key, strings.TrimSuffix(key, "_FORK_EPOCH"), epoch)
		}
	}
	return nil
}

// genesisTime is MIN_GENESIS_TIME + GENESIS_DELAY, the estimated genesis,
// and MIN_GENESIS_TIME, the earliest possible one; both zero when the
// config gives neither.
func (c *configReader) genesisTime() (estimate, earliest time.Time, err error) {
	minTime, hasMin, err := c.uint64(keyMinGenesisTime)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	delay, hasDelay, err := c.uint64(keyGenesisDelay)
	if err != nil {
		return time.Time{}, time.Time{}, err
	}
	switch {
	case !hasMin && !hasDelay:
		return time.Time{}, time.Time{}, nil
	case !hasMin:
		return time.Time{}, time.Time{}, fmt.Errorf("%s: missing (%s is set)", keyMinGenesisTime, keyGenesisDelay)
	case !hasDelay:
		return time.Time{}, time.Time{}, fmt.Errorf("%s: missing (%s is set)", keyGenesisDelay, keyMinGenesisTime)
	}
	// Unix seconds must stay far below the range time.Time can hold.
	const maxUnix = math.MaxInt64 / 4
	if minTime > maxUnix || delay > maxUnix-minTime {
		return time.Time{}, time.Time{}, fmt.Errorf("%s + %s: %d + %d is out of range", keyMinGenesisTime, keyGenesisDelay, minTime, delay)
	}
	return time.Unix(int64(minTime+delay), 0).UTC(), time.Unix(int64(minTime), 0).UTC(), nil
}

// slotDuration reads SLOT_DURATION_MS (current configs) or SECONDS_PER_SLOT
// (older ones and the deprecated duplicate); both must agree when present.
func (c *configReader) slotDuration() (time.Duration, error) {
	ms, hasMS, err := c.uint64(keySlotDurationMS)
	if err != nil {
		return 0, err
	}
	secs, hasSecs, err := c.uint64(keySecondsPerSlot)
	if err != nil {
		return 0, err
	}
	// A day is far beyond any real slot and keeps the arithmetic exact.
	const maxMS = 24 * 60 * 60 * 1000
	switch {
	case hasMS && (ms == 0 || ms > maxMS):
		return 0, fmt.Errorf("%s: %d is not a usable slot duration", keySlotDurationMS, ms)
	case hasSecs && (secs == 0 || secs > maxMS/1000):
		return 0, fmt.Errorf("%s: %d is not a usable slot duration", keySecondsPerSlot, secs)
	case hasMS && hasSecs && ms != secs*1000:
		return 0, fmt.Errorf("%s: %d disagrees with %s: %d", keySlotDurationMS, ms, keySecondsPerSlot, secs)
	case hasMS:
		return time.Duration(ms) * time.Millisecond, nil
	case hasSecs:
		return time.Duration(secs) * time.Second, nil
	}
	return 0, fmt.Errorf("%s: missing (and no %s)", keySlotDurationMS, keySecondsPerSlot)
}

func (c *configReader) deposit(n *Network) error {
	chainID, hasChain, err := c.uint64(keyDepositChainID)
	if err != nil {
		return err
	}
	addr, hasAddr, err := c.optional(keyDepositContract)
	if err != nil {
		return err
	}
	switch {
	case !hasChain && !hasAddr:
		return nil
	case !hasChain:
		return fmt.Errorf("%s: missing (%s is set)", keyDepositChainID, keyDepositContract)
	case !hasAddr:
		return fmt.Errorf("%s: missing (%s is set)", keyDepositContract, keyDepositChainID)
	}
	if err := decodeHexInto(n.depositContract[:], addr); err != nil {
		return fmt.Errorf("%s: %w", keyDepositContract, err)
	}
	n.hasDeposit, n.depositChainID = true, chainID
	return nil
}

// extraValue is an uninterpreted config value: a scalar as written, or a
// list or map in YAML flow style.
type extraValue struct {
	text    string
	complex bool
}

// extra returns the keys the reader did not use.
func (c *configReader) extra() (map[string]extraValue, error) {
	out := map[string]extraValue{}
	for key, node := range c.keys {
		if c.used[key] {
			continue
		}
		if node.Kind == yaml.ScalarNode {
			out[key] = extraValue{text: node.Value}
			continue
		}
		b, err := yaml.Marshal(flowCopy(node))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", key, err)
		}
		out[key] = extraValue{text: string(bytes.TrimSpace(b)), complex: true}
	}
	return out, nil
}

// flowCopy returns a deep copy of n in flow style, without comments, so
// that its encoding is a single stable line.
func flowCopy(n *yaml.Node) *yaml.Node {
	c := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value}
	if n.Kind == yaml.ScalarNode {
		c.Style = n.Style &^ (yaml.LiteralStyle | yaml.FoldedStyle)
		return c
	}
	c.Style = yaml.FlowStyle
	for _, child := range n.Content {
		c.Content = append(c.Content, flowCopy(child))
	}
	return c
}

// MarshalConfig writes the network as a consensus-specs config: the keys
// this package interprets, then the uninterpreted ones. [ParseConfig] of the
// result, with the same genesis validators root, gives an equal network.
func (n *Network) MarshalConfig() ([]byte, error) {
	doc := &yaml.Node{Kind: yaml.MappingNode}
	add := func(key, value string) {
		doc.Content = append(doc.Content,
			&yaml.Node{Kind: yaml.ScalarNode, Value: key},
			&yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: value})
	}
	add(keyPresetBase, n.preset.Name)
	add(keyConfigName, n.name)
	if base, ok := presetByName(n.preset.Name); ok && base.SlotsPerEpoch != n.preset.SlotsPerEpoch {
		add(keySlotsPerEpoch, strconv.FormatUint(n.preset.SlotsPerEpoch, 10))
	}
	add(keyGenesisForkVersion, fmt.Sprintf("%#x", n.GenesisForkVersion()))
	if !n.genesisTime.IsZero() {
		earliest := n.EarliestGenesisTime()
		add(keyMinGenesisTime, strconv.FormatInt(earliest.Unix(), 10))
		add(keyGenesisDelay, strconv.FormatInt(n.genesisTime.Unix()-earliest.Unix(), 10))
	}
	for _, f := range n.forks[1:] {
		prefix := strings.ToUpper(f.Name.String())
		add(prefix+"_FORK_VERSION", fmt.Sprintf("%#x", f.Version))
		add(prefix+"_FORK_EPOCH", strconv.FormatUint(uint64(f.Epoch), 10))
	}
	add(keySlotDurationMS, strconv.FormatInt(n.slotDuration.Milliseconds(), 10))
	if n.hasDeposit {
		add(keyDepositChainID, strconv.FormatUint(n.depositChainID, 10))
		add(keyDepositContract, fmt.Sprintf("%#x", n.depositContract[:]))
	}
	keys := make([]string, 0, len(n.extra))
	for key := range n.extra {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	for _, key := range keys {
		value := n.extra[key]
		if !value.complex {
			add(key, value.text)
			continue
		}
		var parsed yaml.Node
		if err := yaml.Unmarshal([]byte(value.text), &parsed); err != nil || len(parsed.Content) != 1 {
			return nil, fmt.Errorf("%s: stored value %q no longer parses", key, value.text)
		}
		doc.Content = append(doc.Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, flowCopy(parsed.Content[0]))
	}
	return yaml.Marshal(doc)
}

// sameChain returns "" when o has the same chain parameters as n (preset,
// genesis validators root, slot duration, deposit contract and fork
// schedule), or else a description of the first difference.
func (n *Network) sameChain(o *Network) string {
	switch {
	case n.preset != o.preset:
		return fmt.Sprintf("preset %s, want %s", o.preset.Name, n.preset.Name)
	case n.gvr != o.gvr:
		return fmt.Sprintf("genesis validators root %#x, want %#x", o.gvr, n.gvr)
	case n.slotDuration != o.slotDuration:
		return fmt.Sprintf("slot duration %s, want %s", o.slotDuration, n.slotDuration)
	case n.hasDeposit != o.hasDeposit || n.depositChainID != o.depositChainID || n.depositContract != o.depositContract:
		return fmt.Sprintf("deposit contract %d/%#x, want %d/%#x", o.depositChainID, o.depositContract[:], n.depositChainID, n.depositContract[:])
	}
	for i := 0; i < len(n.forks) || i < len(o.forks); i++ {
		switch {
		case i >= len(o.forks):
			return fmt.Sprintf("%s is not scheduled, want version %#x at epoch %d", forkLabel(n.forks[i]), n.forks[i].Version, n.forks[i].Epoch)
		case i >= len(n.forks):
			return fmt.Sprintf("%s is scheduled at epoch %d, want it unscheduled", forkLabel(o.forks[i]), o.forks[i].Epoch)
		case n.forks[i] != o.forks[i]:
			return fmt.Sprintf("%s has version %#x at epoch %d, want version %#x at epoch %d", forkLabel(o.forks[i]), o.forks[i].Version, o.forks[i].Epoch, n.forks[i].Version, n.forks[i].Epoch)
		}
	}
	return ""
}

func forkLabel(f Fork) string { return strings.ToUpper(f.Name.String()) }

// parseUint parses a canonical decimal uint64: digits only, no sign, no
// leading zeros.
func parseUint(s string) (uint64, error) {
	if s == "" || (len(s) > 1 && s[0] == '0') || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("%q is not a decimal number", s)
	}
	u, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%q does not fit 64 bits", s)
	}
	return u, nil
}

// decodeHexInto decodes a 0x-prefixed hex string of exactly len(dst) bytes.
func decodeHexInto(dst []byte, s string) error {
	if !strings.HasPrefix(s, "0x") {
		return fmt.Errorf("%q lacks the 0x prefix", s)
	}
	if len(s)-2 != 2*len(dst) {
		return fmt.Errorf("%q has %d hex digits, want %d", s, len(s)-2, 2*len(dst))
	}
	if _, err := hex.Decode(dst, []byte(s[2:])); err != nil {
		return fmt.Errorf("%q is not hex", s)
	}
	return nil
}
