package protect

// ApproveOption changes how one call of ApproveBlock, ApproveAttestation or
// ApproveAttestations runs.
type ApproveOption func(*approveOptions)

type approveOptions struct {
	decided func(approved []bool)
}

func collectApproveOptions(opts []ApproveOption) approveOptions {
	var o approveOptions
	for _, f := range opts {
		f(&o)
	}
	return o
}

// WhenDecided calls fn once the call's requests were checked against the
// rules and the records of those that passed queued for the group commit,
// before waiting for that commit: approved[i] says whether request i passed
// (for ApproveBlock and ApproveAttestation, approved has one element). fn
// runs on the caller's goroutine with no lock held, and is not called when
// the call fails before deciding (wrong network, database failed or closed).
//
// It lets the caller start work that must be durable before the permit is
// used - an audit record of the signature about to be made - while the
// commit's fsync runs, instead of after it. Passing is not a permit: the
// commit may still fail, the context end or the key be disabled, and then
// no permit is handed out, so such work must mean "may be released", never
// "was released".
func WhenDecided(fn func(approved []bool)) ApproveOption {
	return func(o *approveOptions) { o.decided = fn }
}

func (o *approveOptions) notify(approved []bool) {
	if o.decided != nil {
		o.decided(approved)
	}
}
