package devnet

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// The four system contracts Prague calls into at every block. Without them
// in the genesis allocation geth cannot build a Prague block (the system
// calls of EIP-4788/2935 and the request reads of EIP-7002/7251 fail) and
// every proposal fails. Each is deployed with nonce 1, as the EIPs' own
// deployment transactions leave it.
//
// Addresses and runtime code are those of the EIPs (ethereum/EIPs
// EIPS/eip-4788.md, eip-2935.md, eip-7002.md, eip-7251.md, final versions as
// activated by Pectra); the same bytes are go-ethereum v1.17.10's
// params/protocol_params.go (BeaconRootsCode, HistoryStorageCode,
// WithdrawalQueueCode, ConsolidationQueueCode), the client this devnet runs.
var systemContracts = []struct {
	eip     string
	address string
	code    string
}{
	{
		eip:     "EIP-4788 beacon block root",
		address: "0x000F3df6D732807Ef1319fB7B8bB8522d0Beac02",
		code:    "0x3373fffffffffffffffffffffffffffffffffffffffe14604d57602036146024575f5ffd5b5f35801560495762001fff810690815414603c575f5ffd5b62001fff01545f5260205ff35b5f5ffd5b62001fff42064281555f359062001fff015500",
	},
	{
		eip:     "EIP-2935 historical block hashes",
		address: "0x0000F90827F1C53a10cb7A02335B175320002935",
		code:    "0x3373fffffffffffffffffffffffffffffffffffffffe14604657602036036042575f35600143038111604257611fff81430311604257611fff9006545f5260205ff35b5f5ffd5b5f35611fff60014303065500",
	},
	{
		eip:     "EIP-7002 withdrawal requests",
		address: "0x00000961Ef480Eb55e80D19ad83579A64c007002",
		code:    "0x3373fffffffffffffffffffffffffffffffffffffffe1460cb5760115f54807fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff146101f457600182026001905f5b5f82111560685781019083028483029004916001019190604d565b909390049250505036603814608857366101f457346101f4575f5260205ff35b34106101f457600154600101600155600354806003026004013381556001015f35815560010160203590553360601b5f5260385f601437604c5fa0600101600355005b6003546002548082038060101160df575060105b5f5b8181146101835782810160030260040181604c02815460601b8152601401816001015481526020019060020154807fffffffffffffffffffffffffffffffff00000000000000000000000000000000168252906010019060401c908160381c81600701538160301c81600601538160281c81600501538160201c81600401538160181c81600301538160101c81600201538160081c81600101535360010160e1565b910180921461019557906002556101a0565b90505f6002555f6003555b5f54807fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff14156101cd57505f5b6001546002828201116101e25750505f6101e8565b01600290035b5f555f600155604c025ff35b5f5ffd",
	},
	{
		eip:     "EIP-7251 consolidation requests",
		address: "0x0000BBdDc7CE488642fb579F8B00f3a590007251",
		code:    "0x3373fffffffffffffffffffffffffffffffffffffffe1460d35760115f54807fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff1461019a57600182026001905f5b5f82111560685781019083028483029004916001019190604d565b9093900492505050366060146088573661019a573461019a575f5260205ff35b341061019a57600154600101600155600354806004026004013381556001015f358155600101602035815560010160403590553360601b5f5260605f60143760745fa0600101600355005b6003546002548082038060021160e7575060025b5f5b8181146101295782810160040260040181607402815460601b815260140181600101548152602001816002015481526020019060030154905260010160e9565b910180921461013b5790600255610146565b90505f6002555f6003555b5f54807fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff141561017357505f5b6001546001828201116101885750505f61018e565b01600190035b5f555f6001556074025ff35b5f5ffd",
	},
}

// DepositContractAddress is where the devnet's deposit contract lives (the
// address test networks conventionally use; DEPOSIT_CONTRACT_ADDRESS and the
// execution config's depositContractAddress name it).
const DepositContractAddress = "0x4242424242424242424242424242424242424242"

// depositContractCreation is the creation bytecode of the deposit contract
// that runs on mainnet, byte for byte the "bytecode" of
// ethereum/consensus-specs solidity_deposit_contract/deposit_contract.json
// (commit a6c168be049eccc94c6f2113e96da75592cadbd2, CC0-1.0; Solidity
// 0.6.11). The genesis allocation needs the runtime code it deploys and the
// storage its constructor writes; depositContract derives both.
//
//go:embed deposit_contract.hex
var depositContractCreation string

// depositTreeDepth is DEPOSIT_CONTRACT_TREE_DEPTH.
const depositTreeDepth = 32

// depositZeroHashesSlot is the storage slot of zero_hashes[0]: the contract
// declares branch[32] (slots 0-31), deposit_count (32), then
// zero_hashes[32] (33-64).
const depositZeroHashesSlot = 33

// depositContract returns the deposit contract's runtime code and the
// storage its constructor leaves: zero_hashes[i+1] = sha256(zero_hashes[i] ||
// zero_hashes[i]) for i < 31, zero_hashes[0] being zero (so its slot stays
// empty). The runtime code is the part of the creation code that the
// constructor returns: its last instructions are
// PUSH2 len DUP1 PUSH3 off PUSH1 0 CODECOPY PUSH1 0 RETURN INVALID, and the
// runtime code is creation[off : off+len].
func depositContract() (code []byte, storage map[[32]byte][32]byte, err error) {
	creation, err := hex.DecodeString(strings.TrimPrefix(strings.TrimSpace(depositContractCreation), "0x"))
	if err != nil {
		return nil, nil, fmt.Errorf("deposit contract bytecode: %w", err)
	}
	// 61 LL LL 80 62 OO OO OO 60 00 39 60 00 f3 fe
	tail := []byte{0x60, 0x00, 0x39, 0x60, 0x00, 0xf3, 0xfe}
	at := bytes.Index(creation, tail)
	if at < 8 || creation[at-8] != 0x61 || creation[at-5] != 0x80 || creation[at-4] != 0x62 {
		return nil, nil, errors.New("deposit contract bytecode: constructor does not end in the expected CODECOPY/RETURN")
	}
	length := int(creation[at-7])<<8 | int(creation[at-6])
	offset := int(creation[at-3])<<16 | int(creation[at-2])<<8 | int(creation[at-1])
	if offset != at+len(tail) || offset+length != len(creation) {
		return nil, nil, fmt.Errorf("deposit contract bytecode: runtime code at %d+%d does not end the %d-byte creation code", offset, length, len(creation))
	}
	code = creation[offset : offset+length]

	storage = map[[32]byte][32]byte{}
	var zero [32]byte
	for i := 0; i < depositTreeDepth-1; i++ {
		zero = sha256.Sum256(append(zero[:], zero[:]...))
		var slot [32]byte
		slot[31] = byte(depositZeroHashesSlot + i + 1)
		storage[slot] = zero
	}
	return code, storage, nil
}
