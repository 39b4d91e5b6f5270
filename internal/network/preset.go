package network

// Preset holds the consensus-specs preset constants that change the shape
// of the objects Rampart signs. Only the values signing needs are here; the
// rest of a preset (rewards, state list lengths, ...) does not affect any
// signing root.
type Preset struct {
	// Name is the PRESET_BASE value: "mainnet" or "minimal".
	Name string
	// SlotsPerEpoch is SLOTS_PER_EPOCH.
	SlotsPerEpoch uint64
	// SyncCommitteeSize is SYNC_COMMITTEE_SIZE (Altair): the length of
	// SyncAggregate.sync_committee_bits, and four times the length of a
	// sync committee contribution's aggregation_bits.
	SyncCommitteeSize uint64
	// MaxCommitteesPerSlot is MAX_COMMITTEES_PER_SLOT: the length of an
	// Electra attestation's committee_bits and a factor of its
	// aggregation_bits limit.
	MaxCommitteesPerSlot uint64
	// MaxValidatorsPerCommittee is MAX_VALIDATORS_PER_COMMITTEE: the limit
	// of a phase0 attestation's aggregation_bits and of attesting_indices.
	MaxValidatorsPerCommittee uint64
	// EpochsPerSyncCommitteePeriod is EPOCHS_PER_SYNC_COMMITTEE_PERIOD
	// (Altair): how long a sync committee serves, which a validator client
	// needs to know when to ask for the next committee's duties.
	EpochsPerSyncCommitteePeriod uint64
}

// SyncCommitteeSubnetCount is SYNC_COMMITTEE_SUBNET_COUNT, a constant of the
// Altair specification (not a preset value).
const SyncCommitteeSubnetCount = 4

// MainnetPreset returns the mainnet preset (PRESET_BASE: mainnet), from
// ethereum/consensus-specs presets/mainnet/{phase0,altair}.yaml.
func MainnetPreset() Preset {
	return Preset{Name: "mainnet", SlotsPerEpoch: 32, SyncCommitteeSize: 512, MaxCommitteesPerSlot: 64, MaxValidatorsPerCommittee: 2048, EpochsPerSyncCommitteePeriod: 256}
}

// MinimalPreset returns the minimal preset (PRESET_BASE: minimal) that test
// networks use, from ethereum/consensus-specs
// presets/minimal/{phase0,altair}.yaml.
func MinimalPreset() Preset {
	return Preset{Name: "minimal", SlotsPerEpoch: 8, SyncCommitteeSize: 32, MaxCommitteesPerSlot: 4, MaxValidatorsPerCommittee: 2048, EpochsPerSyncCommitteePeriod: 8}
}

// presetByName returns the preset a PRESET_BASE value names.
func presetByName(name string) (Preset, bool) {
	for _, p := range []Preset{MainnetPreset(), MinimalPreset()} {
		if p.Name == name {
			return p, true
		}
	}
	return Preset{}, false
}
