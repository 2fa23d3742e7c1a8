package awsapi

import (
	"context"
	"errors"
	"math/big"
	"net/http"

	"github.com/hydrant-dev/hydrant/shards"
)

// Kinesis' resharding operations (SplitShard, MergeShards, UpdateShardCount,
// UpdateStreamMode) and how a stream's status and capacity mode are shown.
// The checks AWS makes of a request are made here, against the stream's
// lineage, so that clients get AWS's errors; the shard log checks the
// lineage again when it reshards (another reshard may have come first).
// A reshard is done when the call returns: the stream is UPDATING only
// while one runs.

const (
	statusActive    = "ACTIVE"
	statusUpdating  = "UPDATING"
	modeProvisioned = "PROVISIONED"
	modeOnDemand    = "ON_DEMAND"
	// maxStreamShards is the most open shards UpdateShardCount scales a
	// stream to, as in AWS.
	maxStreamShards = 10000
	// maxTargetShardCount is the model's bound of TargetShardCount.
	maxTargetShardCount = 100000
)

// streamStatus is st's StreamStatus: UPDATING while a reshard runs.
func streamStatus(st Stream) string {
	if st.Log.Updating() {
		return statusUpdating
	}
	return statusActive
}

// streamMode is st's StreamModeDetails.
func streamMode(st Stream) streamModeDetails {
	if st.Log.Lineage().Capacity == shards.OnDemand {
		return streamModeDetails{StreamMode: modeOnDemand}
	}
	return streamModeDetails{StreamMode: modeProvisioned}
}

// capacityMode maps a StreamMode of the wire to the shard log's capacity
// mode; field names the member in AWS's validation message.
func capacityMode(mode, field string) (string, *apiError) {
	switch mode {
	case modeProvisioned:
		return shards.Provisioned, nil
	case modeOnDemand:
		return shards.OnDemand, nil
	case "":
		return "", errValidation("%s", validationMessage(nil, field, "Member must not be null"))
	}
	return "", errValidation("%s", validationMessage(mode, field, "Member must satisfy enum value set: [PROVISIONED, ON_DEMAND]"))
}

// errInUse is AWS's answer to a reshard of a stream that is not ACTIVE:
// retry once it is.
func (s *Server) errInUse(st Stream) *apiError {
	return newError(http.StatusBadRequest, "ResourceInUseException",
		"Stream %s under account %s not ACTIVE, instead in state %s", st.Name, s.opts.AccountID, statusUpdating)
}

// checkActive refuses a reshard while another one runs.
func (s *Server) checkActive(st Stream) *apiError {
	if st.Log.Updating() {
		return s.errInUse(st)
	}
	return nil
}

// checkProvisioned refuses op on an ON_DEMAND stream, whose shards follow
// its load, as AWS does (ValidationException).
func (s *Server) checkProvisioned(st Stream, op string) *apiError {
	if st.Log.Lineage().Capacity != shards.OnDemand {
		return nil
	}
	return errValidation("%s is not supported for stream %s under account %s: it is in ON_DEMAND capacity mode, whose shards follow its load; "+
		"switch it to PROVISIONED with UpdateStreamMode first", op, st.Name, s.opts.AccountID)
}

// reshardError maps the error of a Control reshard to AWS's.
func (s *Server) reshardError(st Stream, err error) *apiError {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, shards.ErrReshardInProgress):
		return s.errInUse(st)
	case errors.Is(err, shards.ErrReshard):
		return errInvalidArgument("%v", err)
	}
	return s.controlError(err)
}

// checkShardMember validates a request member naming a shard, as AWS's
// model does.
func checkShardMember(id, field string) *apiError {
	if id == "" {
		return errValidation("%s", validationMessage(nil, field, "Member must not be null"))
	}
	if !streamNamePattern.MatchString(id) {
		return errValidation("%s", validationMessage(id, field, "Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"))
	}
	return nil
}

// openShard returns the open shard id of st's lineage lin: an unknown
// shard is ResourceNotFoundException, a closed one InvalidArgumentException.
func (s *Server) openShard(st Stream, lin *shards.Lineage, id string) (shards.Shard, *apiError) {
	n, err := shards.ParseShardID(id)
	if err != nil || n >= len(lin.Shards) {
		return shards.Shard{}, errNotFound("Could not find shard %s in stream %s under account %s.", id, st.Name, s.opts.AccountID)
	}
	sh := lin.Shards[n]
	if !sh.IsOpen() {
		return shards.Shard{}, errInvalidArgument("Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.",
			id, st.Name, s.opts.AccountID)
	}
	return sh, nil
}

type splitShardRequest struct {
	streamRef
	ShardToSplit       string `json:"ShardToSplit"`
	NewStartingHashKey string `json:"NewStartingHashKey"`
}

// splitShard splits an open shard in two at NewStartingHashKey, which must
// lie above the shard's StartingHashKey plus one and below its
// EndingHashKey (so that each child has two hash keys at least, as AWS
// requires).
func (s *Server) splitShard(ctx context.Context, c *call, req *splitShardRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkShardMember(req.ShardToSplit, "shardToSplit"); aerr != nil {
		return nil, aerr
	}
	switch key := req.NewStartingHashKey; {
	case key == "":
		return nil, errValidation("%s", validationMessage(nil, "newStartingHashKey", "Member must not be null"))
	case !hashKeyPattern.MatchString(key):
		return nil, errValidation("%s", validationMessage(key, "newStartingHashKey", "Member must satisfy regular expression pattern: 0|([1-9]\\d{0,38})"))
	}
	if aerr := s.checkProvisioned(st, "SplitShard"); aerr != nil {
		return nil, aerr
	}
	sh, aerr := s.openShard(st, st.Log.Lineage(), req.ShardToSplit)
	if aerr != nil {
		return nil, aerr
	}
	at, err := shards.ParseHashKey(req.NewStartingHashKey)
	if err != nil || !splitsInside(sh.Range, at) {
		return nil, errInvalidArgument("NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.",
			req.NewStartingHashKey, req.ShardToSplit, st.Name, s.opts.AccountID, sh.Range.Start, sh.Range.End)
	}
	if aerr := s.checkActive(st); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, s.reshardError(st, ctl.SplitShard(ctx, st.Name, sh.ID, at))
}

// splitsInside reports whether at is a starting hash key AWS takes to split
// r: StartingHashKey + 1 < at < EndingHashKey.
func splitsInside(r shards.HashRange, at shards.HashKey) bool {
	low := new(big.Int).Add(r.Start.Big(), big.NewInt(1))
	return at.Big().Cmp(low) > 0 && at.Big().Cmp(r.End.Big()) < 0
}

type mergeShardsRequest struct {
	streamRef
	ShardToMerge         string `json:"ShardToMerge"`
	AdjacentShardToMerge string `json:"AdjacentShardToMerge"`
}

// mergeShards merges two open shards into one. As in AWS, the adjacent
// shard is the one just above: its StartingHashKey is one past
// ShardToMerge's EndingHashKey (the other order is refused). The child's
// parent is ShardToMerge, its adjacent parent AdjacentShardToMerge.
func (s *Server) mergeShards(ctx context.Context, c *call, req *mergeShardsRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkShardMember(req.ShardToMerge, "shardToMerge"); aerr != nil {
		return nil, aerr
	}
	if aerr := checkShardMember(req.AdjacentShardToMerge, "adjacentShardToMerge"); aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkProvisioned(st, "MergeShards"); aerr != nil {
		return nil, aerr
	}
	lin := st.Log.Lineage()
	lo, aerr := s.openShard(st, lin, req.ShardToMerge)
	if aerr != nil {
		return nil, aerr
	}
	hi, aerr := s.openShard(st, lin, req.AdjacentShardToMerge)
	if aerr != nil {
		return nil, aerr
	}
	if next := new(big.Int).Add(lo.Range.End.Big(), big.NewInt(1)); next.Cmp(hi.Range.Start.Big()) != 0 {
		return nil, errInvalidArgument("Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging",
			req.ShardToMerge, req.AdjacentShardToMerge, st.Name, s.opts.AccountID)
	}
	if aerr := s.checkActive(st); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, s.reshardError(st, ctl.MergeShards(ctx, st.Name, lo.ID, hi.ID))
}

type updateShardCountRequest struct {
	streamRef
	TargetShardCount *int   `json:"TargetShardCount,omitempty"`
	ScalingType      string `json:"ScalingType"`
}

type updateShardCountResponse struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN"`
	CurrentShardCount int    `json:"CurrentShardCount"`
	TargetShardCount  int    `json:"TargetShardCount"`
}

// updateShardCount reshards a stream to TargetShardCount open shards of
// even hash-key ranges (UNIFORM_SCALING, the only type), within AWS's
// limits of one call: at most double the open shards, at least half, at
// most maxStreamShards (LimitExceededException, as AWS answers).
// CurrentShardCount is the open shards before.
func (s *Server) updateShardCount(ctx context.Context, c *call, req *updateShardCountRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	switch n := req.TargetShardCount; {
	case n == nil:
		return nil, errValidation("%s", validationMessage(nil, "targetShardCount", "Member must not be null"))
	case *n < 1:
		return nil, errValidation("%s", validationMessage(*n, "targetShardCount", "Member must have value greater than or equal to 1"))
	case *n > maxTargetShardCount:
		return nil, errValidation("%s", validationMessage(*n, "targetShardCount", "Member must have value less than or equal to "+itoa(maxTargetShardCount)))
	}
	switch req.ScalingType {
	case "UNIFORM_SCALING":
	case "":
		return nil, errValidation("%s", validationMessage(nil, "scalingType", "Member must not be null"))
	default:
		return nil, errValidation("%s", validationMessage(req.ScalingType, "scalingType", "Member must satisfy enum value set: [UNIFORM_SCALING]"))
	}
	if aerr := s.checkProvisioned(st, "UpdateShardCount"); aerr != nil {
		return nil, aerr
	}
	target, open := *req.TargetShardCount, st.Log.OpenShards()
	limit := func(format string) *apiError {
		return newError(http.StatusBadRequest, "LimitExceededException", format+" Current open shard count: %d, Target shard count: %d", open, target)
	}
	switch {
	case target > maxStreamShards:
		return nil, limit("Target shard count or number of open shards cannot be greater than " + itoa(maxStreamShards) + ".")
	case target > 2*open:
		return nil, limit("UpdateShardCount cannot scale up over double your current open shard count.")
	case 2*target < open:
		return nil, limit("UpdateShardCount cannot scale down below half your current open shard count.")
	}
	if aerr := s.checkActive(st); aerr != nil {
		return nil, aerr
	}
	if aerr := s.reshardError(st, ctl.UpdateShardCount(ctx, st.Name, target)); aerr != nil {
		return nil, aerr
	}
	return updateShardCountResponse{StreamName: st.Name, StreamARN: s.arn("kinesis", c.region, "stream/"+st.Name),
		CurrentShardCount: open, TargetShardCount: target}, nil
}

type updateStreamModeRequest struct {
	StreamARN         string             `json:"StreamARN"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails,omitempty"`
}

func (r *updateStreamModeRequest) resource(s *Server) (string, string) {
	return (&streamRef{StreamARN: r.StreamARN}).resource(s)
}

// updateStreamMode sets a stream's capacity mode. Its shards stay as they
// are; an ON_DEMAND stream's then follow its load.
func (s *Server) updateStreamMode(ctx context.Context, c *call, req *updateStreamModeRequest) (any, *apiError) {
	ctl, aerr := s.control()
	if aerr != nil {
		return nil, aerr
	}
	if req.StreamARN == "" {
		return nil, errValidation("%s", validationMessage(nil, "streamARN", "Member must not be null"))
	}
	if req.StreamModeDetails == nil {
		return nil, errValidation("%s", validationMessage(nil, "streamModeDetails", "Member must not be null"))
	}
	mode, aerr := capacityMode(req.StreamModeDetails.StreamMode, "streamModeDetails.streamMode")
	if aerr != nil {
		return nil, aerr
	}
	st, aerr := s.stream(streamRef{StreamARN: req.StreamARN})
	if aerr != nil {
		return nil, aerr
	}
	if aerr := s.checkActive(st); aerr != nil {
		return nil, aerr
	}
	return struct{}{}, s.reshardError(st, ctl.SetStreamMode(ctx, st.Name, mode))
}
