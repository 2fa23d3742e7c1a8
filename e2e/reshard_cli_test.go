package e2e

import (
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/hydrant-dev/hydrant/internal/await"
)

// The AWS CLI v2 and boto3 reshard a stream on the real binary and list,
// describe and read it, each through one scenario (runReshardScenario)
// written with the API's own operation and member names: the CLI gets them as
// its options (`list-shards --shard-filter Type=AT_TIMESTAMP,Timestamp=...`),
// boto3 as keyword arguments (e2e/boto3_kinesis.py). Every answer is checked
// in the shape AWS gives it. SigV4 is on: every request's signature is checked.

const reshardClientsConfig = `
server:
  listen: "{{LISTEN}}"
  auth:
    aws: [{access_key_id: resharder, secret_access_key: "resharder-secret", policies: [kinesis]}]
    policies:
      kinesis: [{effect: allow, actions: ["kinesis:*"], resources: ["*"]}]
storage: {data_dir: "{{DIR}}/data"}
streams:
  - name: seed
    shards: 1
`

// reshardClientsEnv is the environment both clients run in: none of this
// machine's AWS settings, an empty AWS configuration, the server's key pair.
func reshardClientsEnv(t *testing.T) []string {
	t.Helper()
	dir := t.TempDir()
	config, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{config, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	return append(env, "AWS_CONFIG_FILE="+config, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_PAGER=", "AWS_EC2_METADATA_DISABLED=true",
		"AWS_ACCESS_KEY_ID=resharder", "AWS_SECRET_ACCESS_KEY=resharder-secret", "AWS_DEFAULT_REGION=us-east-1")
}

// The AWS CLI v2: create-stream, update-shard-count, split-shard,
// merge-shards, list-shards with every --shard-filter type and with
// --max-results/--next-token paging, describe-stream(-summary),
// update-stream-mode, put-record and get-records across the reshards, and
// the errors of a call past UpdateShardCount's limits and of a merge of
// shards that are not adjacent (exit code 254, the error code in stderr).
func TestReshardAWSCLI(t *testing.T) {
	aws := awsCLIv2(t)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, reshardClientsConfig)
	runReshardScenario(t, &kinCLI{t: t, bin: aws, endpoint: "http://" + listen, env: reshardClientsEnv(t)}, "cli-orders")
	h.stop()
}

// boto3: the same calls (split_shard, merge_shards, update_shard_count,
// list_shards with ShardFilter, get_records to the end of closed shards, ...)
// with the same checks.
func TestReshardBoto3(t *testing.T) {
	py := boto3Python(t)
	dir, listen := t.TempDir(), freeAddr(t)
	h := startHydrant(t, dir, listen, reshardClientsConfig)
	runReshardScenario(t, startKinBoto3(t, py, "http://"+listen, reshardClientsEnv(t)), "boto3-orders")
	h.stop()
}

// What the calls answer, in AWS's shapes. A pointer is a member AWS leaves
// out in some answers.
type kinHashRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type kinShard struct {
	ShardID               string       `json:"ShardId"`
	ParentShardID         string       `json:"ParentShardId"`
	AdjacentParentShardID string       `json:"AdjacentParentShardId"`
	HashKeyRange          kinHashRange `json:"HashKeyRange"`
	SequenceNumberRange   struct {
		StartingSequenceNumber string  `json:"StartingSequenceNumber"`
		EndingSequenceNumber   *string `json:"EndingSequenceNumber"`
	} `json:"SequenceNumberRange"`
}

func (s kinShard) closed() bool { return s.SequenceNumberRange.EndingSequenceNumber != nil }

type kinShardList struct {
	Shards    []kinShard `json:"Shards"`
	NextToken *string    `json:"NextToken"`
}

type kinSummary struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN"`
	StreamStatus      string `json:"StreamStatus"`
	StreamModeDetails struct {
		StreamMode string `json:"StreamMode"`
	} `json:"StreamModeDetails"`
	OpenShardCount       *int `json:"OpenShardCount"`
	RetentionPeriodHours int  `json:"RetentionPeriodHours"`
}

type kinRecords struct {
	Records []struct {
		SequenceNumber string `json:"SequenceNumber"`
		Data           string `json:"Data"`
		PartitionKey   string `json:"PartitionKey"`
	} `json:"Records"`
	NextShardIterator  *string `json:"NextShardIterator"`
	MillisBehindLatest *int64  `json:"MillisBehindLatest"`
	ChildShards        []struct {
		ShardID      string       `json:"ShardId"`
		ParentShards []string     `json:"ParentShards"`
		HashKeyRange kinHashRange `json:"HashKeyRange"`
	} `json:"ChildShards"`
}

// kinPut is a record put, and where PutRecord said it went.
type kinPut struct {
	key, data, shard, seq string
}

// kinMust makes a call that must succeed and decodes its output into out.
func kinMust(t *testing.T, c kinCaller, op string, params map[string]any, out any) json.RawMessage {
	t.Helper()
	raw, err := c.call(op, params)
	if err != nil {
		t.Fatalf("%s %v: %s: %s", op, params, err.Code, err.Message)
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			t.Fatalf("%s printed %q: %v", op, raw, err)
		}
	}
	return raw
}

// kinMustFail makes a call that must fail with the error code.
func kinMustFail(t *testing.T, c kinCaller, op string, params map[string]any, code string) {
	t.Helper()
	raw, err := c.call(op, params)
	if err == nil {
		t.Fatalf("%s %v succeeded (%s), want %s", op, params, raw, code)
	}
	if err.Code != code {
		t.Fatalf("%s %v failed with %s (%s), want %s", op, params, err.Code, err.Message, code)
	}
}

// kinNoOutput checks the output of an operation AWS answers with nothing.
func kinNoOutput(t *testing.T, op string, raw json.RawMessage) {
	t.Helper()
	if s := strings.TrimSpace(string(raw)); s != "" && s != "{}" {
		t.Fatalf("%s answered %s, want no output", op, s)
	}
}

// kinScenario is one client's run of the scenario: the stream's shards as
// they were at each step.
type kinScenario struct {
	t      *testing.T
	c      kinCaller
	stream string
	arn    string
	// initial are the shards the stream was created with; scaled the open
	// shards after UpdateShardCount, which closed closedByScale.
	initial, scaled, closedByScale []string
	// between is a whole second after UpdateShardCount and before the split.
	between string
	puts    []kinPut
}

// runReshardScenario creates stream with 2 shards, puts, scales it to 4 by
// UpdateShardCount, puts, splits one shard and merges two, puts, then
// checks the lineage as DescribeStream and ListShards (each filter, paged)
// show it, reads every record back with GetRecords following ChildShards,
// and switches the capacity mode.
func runReshardScenario(t *testing.T, c kinCaller, stream string) {
	s := &kinScenario{t: t, c: c, stream: stream}
	s.create()
	s.put("before", s.initial)
	s.updateShardCount()
	s.put("scaled", s.scaled)
	open := s.splitAndMerge()
	s.put("resharded", open)
	all := s.checkLineage(open)
	s.checkFilters(all, open)
	s.readAll(all)
	s.capacityModes()
}

func (s *kinScenario) summary() kinSummary {
	var out struct {
		StreamDescriptionSummary kinSummary `json:"StreamDescriptionSummary"`
	}
	kinMust(s.t, s.c, "DescribeStreamSummary", map[string]any{"StreamName": s.stream}, &out)
	return out.StreamDescriptionSummary
}

// awaitActive polls DescribeStreamSummary until the stream is ACTIVE (a
// reshard is asynchronous in AWS) and checks its open shards and mode.
func (s *kinScenario) awaitActive(open int, mode string) kinSummary {
	s.t.Helper()
	var sum kinSummary
	await.Cond(s.t, 30*time.Second, s.stream+" ACTIVE", func() bool {
		sum = s.summary()
		return sum.StreamStatus == "ACTIVE"
	})
	if sum.StreamName != s.stream || sum.OpenShardCount == nil || *sum.OpenShardCount != open || sum.StreamModeDetails.StreamMode != mode ||
		!strings.HasSuffix(sum.StreamARN, ":stream/"+s.stream) || sum.RetentionPeriodHours != 24 {
		s.t.Fatalf("DescribeStreamSummary: %+v, want StreamName %s, OpenShardCount %d, StreamMode %s, its StreamARN, RetentionPeriodHours 24",
			sum, s.stream, open, mode)
	}
	return sum
}

// list lists the stream's shards with params added, all in one answer.
func (s *kinScenario) list(params map[string]any) []kinShard {
	s.t.Helper()
	params["StreamName"] = s.stream
	var out kinShardList
	kinMust(s.t, s.c, "ListShards", params, &out)
	if out.NextToken != nil {
		s.t.Fatalf("ListShards %v: a NextToken without MaxResults", params)
	}
	return out.Shards
}

func (s *kinScenario) listIDs(filter map[string]any) []string {
	return kinIDs(s.list(map[string]any{"ShardFilter": filter}))
}

func kinIDs(shards []kinShard) []string {
	ids := []string{}
	for _, sh := range shards {
		ids = append(ids, sh.ShardID)
	}
	return ids
}

func (s *kinScenario) create() {
	t := s.t
	kinMust(t, s.c, "CreateStream", map[string]any{"StreamName": s.stream, "ShardCount": 2}, nil)
	s.arn = s.awaitActive(2, "PROVISIONED").StreamARN
	shards := s.list(map[string]any{})
	for _, sh := range shards {
		if sh.closed() || sh.ParentShardID != "" || sh.AdjacentParentShardID != "" || sh.SequenceNumberRange.StartingSequenceNumber == "" {
			t.Fatalf("new stream's shard %+v: want open, without parents, with a StartingSequenceNumber", sh)
		}
	}
	kinCheckCover(t, "the new stream's shards", shards)
	s.initial = kinIDs(shards)
}

// put puts one record for each of four partition keys: each goes to the
// open shard (one of open) whose hash-key range holds the MD5 of its key.
func (s *kinScenario) put(phase string, open []string) {
	t := s.t
	ranges := map[string]kinHashRange{}
	for _, sh := range s.list(map[string]any{}) {
		ranges[sh.ShardID] = sh.HashKeyRange
	}
	for i := range 4 {
		p := kinPut{key: fmt.Sprintf("customer-%d", i), data: fmt.Sprintf(`{"phase":%q,"customer":%d}`, phase, i)}
		var out struct{ ShardId, SequenceNumber string }
		kinMust(t, s.c, "PutRecord", map[string]any{"StreamName": s.stream, "PartitionKey": p.key, "Data": p.data}, &out)
		p.shard, p.seq = out.ShardId, out.SequenceNumber
		sum := md5.Sum([]byte(p.key))
		r, ok := ranges[p.shard]
		if !ok || !slices.Contains(open, p.shard) || out.SequenceNumber == "" || !kinInRange(t, new(big.Int).SetBytes(sum[:]), r) {
			t.Fatalf("%s: PutRecord of key %s answered %+v: want an open shard of %v whose range holds the key's MD5", phase, p.key, out, open)
		}
		s.puts = append(s.puts, p)
	}
}

func (s *kinScenario) updateShardCount() {
	t := s.t
	var out struct {
		StreamName        string `json:"StreamName"`
		StreamARN         string `json:"StreamARN"`
		CurrentShardCount *int   `json:"CurrentShardCount"`
		TargetShardCount  *int   `json:"TargetShardCount"`
	}
	kinMust(t, s.c, "UpdateShardCount", map[string]any{"StreamName": s.stream, "TargetShardCount": 4, "ScalingType": "UNIFORM_SCALING"}, &out)
	if out.StreamName != s.stream || out.StreamARN != s.arn || out.CurrentShardCount == nil || *out.CurrentShardCount != 2 ||
		out.TargetShardCount == nil || *out.TargetShardCount != 4 {
		t.Fatalf("UpdateShardCount 2 → 4 answered %+v, want StreamName %s, StreamARN %s, CurrentShardCount 2, TargetShardCount 4", out, s.stream, s.arn)
	}
	s.awaitActive(4, "PROVISIONED")
	scaled := s.list(map[string]any{"ShardFilter": map[string]any{"Type": "AT_LATEST"}})
	kinCheckCover(t, "the open shards after UpdateShardCount", scaled)
	all := s.list(map[string]any{})
	byID := kinByID(all)
	for _, sh := range scaled {
		size := new(big.Int).Sub(kinBig(t, sh.HashKeyRange.EndingHashKey), kinBig(t, sh.HashKeyRange.StartingHashKey))
		if size.Add(size, big.NewInt(1)).Cmp(new(big.Int).Lsh(big.NewInt(1), 126)) != 0 {
			t.Fatalf("UNIFORM_SCALING to 4: shard %s has %v, not a quarter of the hash keys", sh.ShardID, sh.HashKeyRange)
		}
		if parent, ok := byID[sh.ParentShardID]; !ok || !parent.closed() || sh.closed() {
			t.Fatalf("shard %+v made by UpdateShardCount: want it open, with a closed ParentShardId", sh)
		}
	}
	s.scaled = kinIDs(scaled)
	for _, sh := range all {
		if !slices.Contains(s.scaled, sh.ShardID) {
			if !sh.closed() {
				t.Fatalf("shard %s is neither open after UpdateShardCount nor closed by it: %+v", sh.ShardID, sh)
			}
			s.closedByScale = append(s.closedByScale, sh.ShardID)
		}
	}
	// One call scales to at most double the open shards and at least half.
	for _, target := range []int{9, 1} {
		kinMustFail(t, s.c, "UpdateShardCount", map[string]any{"StreamName": s.stream, "TargetShardCount": target, "ScalingType": "UNIFORM_SCALING"}, "LimitExceededException")
	}
	s.between = s.awaitSecondAfterScale()
}

// awaitSecondAfterScale returns the first whole second after the shards
// UpdateShardCount closed were closed (the clients send ShardFilter's
// Timestamp in whole seconds): ListShards AT_TIMESTAMP at the current
// second lists the shards open before (while the second is the one the
// reshard ended in), then those open after.
func (s *kinScenario) awaitSecondAfterScale() string {
	before := slices.Clone(s.initial)
	var at string
	await.Cond(s.t, 10*time.Second, "ListShards AT_TIMESTAMP to list the shards UpdateShardCount opened", func() bool {
		at = time.Now().UTC().Truncate(time.Second).Format(time.RFC3339)
		got := s.listIDs(map[string]any{"Type": "AT_TIMESTAMP", "Timestamp": at})
		switch {
		case slices.Equal(got, s.scaled):
			return true
		case slices.Equal(got, before):
			return false
		}
		s.t.Fatalf("ListShards AT_TIMESTAMP %s lists %v: neither the shards open before UpdateShardCount %v nor after %v", at, got, before, s.scaled)
		return false
	})
	return at
}

// splitAndMerge splits the open shard with the highest hash keys in the
// middle of its range and merges the two lowest, and returns the open
// shards after.
func (s *kinScenario) splitAndMerge() []string {
	t := s.t
	scaled := s.list(map[string]any{"ShardFilter": map[string]any{"Type": "AT_LATEST"}})
	sort.Slice(scaled, func(i, j int) bool {
		return kinBig(t, scaled[i].HashKeyRange.StartingHashKey).Cmp(kinBig(t, scaled[j].HashKeyRange.StartingHashKey)) < 0
	})
	top := scaled[len(scaled)-1]
	start, end := kinBig(t, top.HashKeyRange.StartingHashKey), kinBig(t, top.HashKeyRange.EndingHashKey)
	mid := new(big.Int).Rsh(new(big.Int).Add(new(big.Int).Add(start, end), big.NewInt(1)), 1)
	kinNoOutput(t, "SplitShard", kinMust(t, s.c, "SplitShard", map[string]any{"StreamName": s.stream, "ShardToSplit": top.ShardID, "NewStartingHashKey": mid.String()}, nil))
	s.awaitActive(5, "PROVISIONED")

	// Two shards that are not adjacent do not merge.
	kinMustFail(t, s.c, "MergeShards", map[string]any{"StreamName": s.stream, "ShardToMerge": scaled[0].ShardID, "AdjacentShardToMerge": scaled[2].ShardID}, "InvalidArgumentException")
	kinNoOutput(t, "MergeShards", kinMust(t, s.c, "MergeShards", map[string]any{"StreamName": s.stream, "ShardToMerge": scaled[0].ShardID, "AdjacentShardToMerge": scaled[1].ShardID}, nil))
	s.awaitActive(4, "PROVISIONED")

	all := kinByID(s.list(map[string]any{}))
	var halves, merged []kinShard
	for _, sh := range all {
		switch {
		case sh.ParentShardID == top.ShardID:
			halves = append(halves, sh)
		case sh.ParentShardID == scaled[0].ShardID && sh.AdjacentParentShardID == scaled[1].ShardID:
			merged = append(merged, sh)
		}
	}
	sort.Slice(halves, func(i, j int) bool { return halves[i].ShardID < halves[j].ShardID })
	wantHalves := []kinHashRange{{top.HashKeyRange.StartingHashKey, new(big.Int).Sub(mid, big.NewInt(1)).String()}, {mid.String(), top.HashKeyRange.EndingHashKey}}
	if len(halves) != 2 || halves[0].HashKeyRange != wantHalves[0] || halves[1].HashKeyRange != wantHalves[1] || halves[0].AdjacentParentShardID != "" {
		t.Fatalf("SplitShard %s at %s made %+v, want two children with ParentShardId %s and ranges %v", top.ShardID, mid, halves, top.ShardID, wantHalves)
	}
	wantMerged := kinHashRange{scaled[0].HashKeyRange.StartingHashKey, scaled[1].HashKeyRange.EndingHashKey}
	if len(merged) != 1 || merged[0].HashKeyRange != wantMerged {
		t.Fatalf("MergeShards %s + %s made %+v, want one child with ParentShardId, AdjacentParentShardId and range %v", scaled[0].ShardID, scaled[1].ShardID, merged, wantMerged)
	}
	for _, id := range []string{top.ShardID, scaled[0].ShardID, scaled[1].ShardID} {
		if !all[id].closed() {
			t.Fatalf("shard %s split or merged, but has no EndingSequenceNumber: %+v", id, all[id])
		}
	}
	open := []string{scaled[2].ShardID, halves[0].ShardID, halves[1].ShardID, merged[0].ShardID}
	sort.Strings(open)
	return open
}

// checkLineage compares DescribeStream's shards with ListShards' and checks
// that exactly the open shards have no EndingSequenceNumber. It returns
// every shard.
func (s *kinScenario) checkLineage(open []string) []kinShard {
	t := s.t
	all := s.list(map[string]any{})
	var described struct {
		StreamDescription struct {
			StreamName    string     `json:"StreamName"`
			StreamStatus  string     `json:"StreamStatus"`
			Shards        []kinShard `json:"Shards"`
			HasMoreShards *bool      `json:"HasMoreShards"`
		} `json:"StreamDescription"`
	}
	kinMust(t, s.c, "DescribeStream", map[string]any{"StreamName": s.stream}, &described)
	d := described.StreamDescription
	// The AWS CLI pages through DescribeStream and leaves HasMoreShards out.
	if d.StreamName != s.stream || d.StreamStatus != "ACTIVE" || (d.HasMoreShards != nil && *d.HasMoreShards) {
		t.Fatalf("DescribeStream: %s %s HasMoreShards %v, want %s ACTIVE with every shard", d.StreamName, d.StreamStatus, d.HasMoreShards, s.stream)
	}
	if !slices.EqualFunc(d.Shards, all, kinSameShard) {
		t.Fatalf("DescribeStream's shards\n%+v\ndiffer from ListShards'\n%+v", d.Shards, all)
	}
	for _, sh := range all {
		if sh.closed() == slices.Contains(open, sh.ShardID) {
			t.Fatalf("shard %s: EndingSequenceNumber %v, open shards %v", sh.ShardID, sh.SequenceNumberRange.EndingSequenceNumber, open)
		}
	}
	return all
}

func kinSameShard(a, b kinShard) bool {
	ea, eb := a.SequenceNumberRange.EndingSequenceNumber, b.SequenceNumberRange.EndingSequenceNumber
	a.SequenceNumberRange.EndingSequenceNumber, b.SequenceNumberRange.EndingSequenceNumber = nil, nil
	return a == b && (ea == nil) == (eb == nil) && (ea == nil || *ea == *eb)
}

// checkFilters lists the shards with every ShardFilter type, and all of
// them and a filter's page by page.
func (s *kinScenario) checkFilters(all []kinShard, open []string) {
	t := s.t
	ids := kinIDs(all)
	after := ids[len(ids)/2]
	var sinceScale []string
	for _, id := range ids {
		if !slices.Contains(s.closedByScale, id) {
			sinceScale = append(sinceScale, id)
		}
	}
	for _, tc := range []struct {
		filter map[string]any
		want   []string
	}{
		{map[string]any{"Type": "AT_LATEST"}, open},
		{map[string]any{"Type": "AFTER_SHARD_ID", "ShardId": after}, ids[len(ids)/2+1:]},
		{map[string]any{"Type": "AT_TRIM_HORIZON"}, s.initial},
		{map[string]any{"Type": "FROM_TRIM_HORIZON"}, ids},
		{map[string]any{"Type": "AT_TIMESTAMP", "Timestamp": s.between}, s.scaled},
		{map[string]any{"Type": "FROM_TIMESTAMP", "Timestamp": s.between}, sinceScale},
	} {
		if got := s.listIDs(tc.filter); !slices.Equal(got, tc.want) {
			t.Errorf("ListShards ShardFilter %v lists %v, want %v", tc.filter, got, tc.want)
		}
	}
	if got := s.pages(map[string]any{"StreamName": s.stream, "MaxResults": 2}); !slices.Equal(got, ids) {
		t.Errorf("ListShards by 2 lists %v, want %v", got, ids)
	}
	fromScale := map[string]any{"Type": "FROM_TIMESTAMP", "Timestamp": s.between}
	if got := s.pages(map[string]any{"StreamName": s.stream, "MaxResults": 3, "ShardFilter": fromScale}); !slices.Equal(got, sinceScale) {
		t.Errorf("ListShards FROM_TIMESTAMP by 3 lists %v, want %v", got, sinceScale)
	}
	// A NextToken names the stream: StreamName beside it is refused.
	var first kinShardList
	kinMust(t, s.c, "ListShards", map[string]any{"StreamName": s.stream, "MaxResults": 1}, &first)
	if first.NextToken == nil {
		t.Fatalf("ListShards MaxResults 1 of %d shards answered no NextToken", len(ids))
	}
	kinMustFail(t, s.c, "ListShards", map[string]any{"StreamName": s.stream, "NextToken": *first.NextToken}, "InvalidArgumentException")
}

// pages lists shards from params on, following NextToken alone (with the
// same MaxResults), and returns their IDs.
func (s *kinScenario) pages(params map[string]any) []string {
	t := s.t
	limit := params["MaxResults"].(int)
	var ids []string
	for n := 0; ; n++ {
		if n > 20 {
			t.Fatalf("ListShards %v: more than 20 pages", params)
		}
		var page kinShardList
		kinMust(t, s.c, "ListShards", params, &page)
		ids = append(ids, kinIDs(page.Shards)...)
		if page.NextToken == nil {
			if len(page.Shards) > limit {
				t.Fatalf("ListShards MaxResults %d: a page of %d shards", limit, len(page.Shards))
			}
			return ids
		}
		if len(page.Shards) != limit {
			t.Fatalf("ListShards MaxResults %d: a page of %d shards with a NextToken", limit, len(page.Shards))
		}
		params = map[string]any{"NextToken": *page.NextToken, "MaxResults": limit}
	}
}

// readAll reads every shard from TRIM_HORIZON as a KCL worker does: the
// first shards, then each child once all its parents are read to the end,
// which a closed shard's last GetRecords answer shows by naming its
// ChildShards and no NextShardIterator. Every record put is read once,
// from the shard PutRecord named, and each key's records in the order they
// were put.
func (s *kinScenario) readAll(all []kinShard) {
	t := s.t
	byID := kinByID(all)
	children := map[string][]string{}
	for _, sh := range all {
		for _, p := range []string{sh.ParentShardID, sh.AdjacentParentShardID} {
			if p != "" {
				children[p] = append(children[p], sh.ShardID)
			}
		}
	}
	wantOn := map[string]int{}
	for _, p := range s.puts {
		wantOn[p.shard]++
	}
	queue := slices.Clone(s.initial)
	done := map[string]bool{}
	var read []kinPut
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		read = append(read, s.readShard(byID[id], children[id], byID, wantOn[id])...)
		done[id] = true
		for _, child := range children[id] {
			c := byID[child]
			if done[c.ParentShardID] && (c.AdjacentParentShardID == "" || done[c.AdjacentParentShardID]) && !slices.Contains(queue, child) {
				queue = append(queue, child)
			}
		}
	}
	if len(done) != len(all) {
		t.Fatalf("following ChildShards reached %d of the %d shards", len(done), len(all))
	}
	got, want := map[string][]string{}, map[string][]string{}
	for _, p := range read {
		got[p.key] = append(got[p.key], p.shard+" "+p.seq+" "+p.data)
	}
	for _, p := range s.puts {
		want[p.key] = append(want[p.key], p.shard+" "+p.seq+" "+p.data)
	}
	for key := range want {
		if !slices.Equal(got[key], want[key]) {
			t.Errorf("key %s: read\n%v\nput\n%v", key, got[key], want[key])
		}
	}
	if len(read) != len(s.puts) {
		t.Fatalf("read %d records, put %d", len(read), len(s.puts))
	}
}

// readShard reads sh from TRIM_HORIZON: an open shard until its want
// records are read, a closed one to its end.
func (s *kinScenario) readShard(sh kinShard, children []string, byID map[string]kinShard, want int) []kinPut {
	t := s.t
	var it struct{ ShardIterator string }
	kinMust(t, s.c, "GetShardIterator", map[string]any{"StreamName": s.stream, "ShardId": sh.ShardID, "ShardIteratorType": "TRIM_HORIZON"}, &it)
	iterator := it.ShardIterator
	var read []kinPut
	for calls := 0; ; calls++ {
		if calls == 20 {
			t.Fatalf("shard %s: 20 GetRecords calls read %d records and no end", sh.ShardID, len(read))
		}
		var out kinRecords
		kinMust(t, s.c, "GetRecords", map[string]any{"ShardIterator": iterator}, &out)
		if out.MillisBehindLatest == nil {
			t.Fatalf("GetRecords on %s: no MillisBehindLatest", sh.ShardID)
		}
		for _, r := range out.Records {
			data, err := base64.StdEncoding.DecodeString(r.Data)
			if err != nil {
				t.Fatalf("GetRecords on %s: Data %q: %v", sh.ShardID, r.Data, err)
			}
			read = append(read, kinPut{key: r.PartitionKey, data: string(data), shard: sh.ShardID, seq: r.SequenceNumber})
		}
		if out.NextShardIterator == nil {
			if !sh.closed() {
				t.Fatalf("GetRecords on open shard %s: no NextShardIterator", sh.ShardID)
			}
			s.checkChildShards(sh, out, children, byID)
			return read
		}
		if len(out.ChildShards) > 0 {
			t.Fatalf("GetRecords on %s: ChildShards %+v with a NextShardIterator", sh.ShardID, out.ChildShards)
		}
		if !sh.closed() && len(read) >= want {
			return read
		}
		iterator = *out.NextShardIterator
	}
}

// checkChildShards checks a closed shard's last GetRecords answer names its
// children as ListShards shows them.
func (s *kinScenario) checkChildShards(sh kinShard, out kinRecords, children []string, byID map[string]kinShard) {
	t := s.t
	var got []string
	for _, c := range out.ChildShards {
		child := byID[c.ShardID]
		parents := []string{child.ParentShardID}
		if child.AdjacentParentShardID != "" {
			parents = append(parents, child.AdjacentParentShardID)
		}
		if !slices.Equal(c.ParentShards, parents) || c.HashKeyRange != child.HashKeyRange {
			t.Fatalf("GetRecords at the end of %s: ChildShard %+v, ListShards shows %+v", sh.ShardID, c, child)
		}
		got = append(got, c.ShardID)
	}
	if !slices.Equal(got, children) {
		t.Fatalf("GetRecords at the end of %s: ChildShards %v, want %v", sh.ShardID, got, children)
	}
	if *out.MillisBehindLatest != 0 {
		t.Fatalf("GetRecords at the end of %s: MillisBehindLatest %d, want 0", sh.ShardID, *out.MillisBehindLatest)
	}
}

// capacityModes switches the stream to ON_DEMAND and back with
// UpdateStreamMode, and creates an ON_DEMAND stream.
func (s *kinScenario) capacityModes() {
	t := s.t
	mode := func(m string) map[string]any {
		return map[string]any{"StreamARN": s.arn, "StreamModeDetails": map[string]any{"StreamMode": m}}
	}
	kinNoOutput(t, "UpdateStreamMode", kinMust(t, s.c, "UpdateStreamMode", mode("ON_DEMAND"), nil))
	s.awaitActive(4, "ON_DEMAND")
	// An ON_DEMAND stream's shards follow its load: AWS takes no
	// UpdateShardCount for it (the API reference does not name the error).
	if raw, err := s.c.call("UpdateShardCount", map[string]any{"StreamName": s.stream, "TargetShardCount": 5, "ScalingType": "UNIFORM_SCALING"}); err == nil {
		t.Fatalf("UpdateShardCount on an ON_DEMAND stream succeeded: %s", raw)
	}
	kinNoOutput(t, "UpdateStreamMode", kinMust(t, s.c, "UpdateStreamMode", mode("PROVISIONED"), nil))
	s.awaitActive(4, "PROVISIONED")

	onDemand := &kinScenario{t: t, c: s.c, stream: s.stream + "-on-demand"}
	kinMust(t, s.c, "CreateStream", map[string]any{"StreamName": onDemand.stream, "StreamModeDetails": map[string]any{"StreamMode": "ON_DEMAND"}}, nil)
	onDemand.awaitActive(4, "ON_DEMAND")
}

// kinCheckCover checks that shards' hash-key ranges, in order, cover every
// hash key once.
func kinCheckCover(t *testing.T, what string, shards []kinShard) {
	t.Helper()
	sorted := slices.Clone(shards)
	sort.Slice(sorted, func(i, j int) bool {
		return kinBig(t, sorted[i].HashKeyRange.StartingHashKey).Cmp(kinBig(t, sorted[j].HashKeyRange.StartingHashKey)) < 0
	})
	next := big.NewInt(0)
	for _, sh := range sorted {
		if kinBig(t, sh.HashKeyRange.StartingHashKey).Cmp(next) != 0 {
			t.Fatalf("%s: %s starts at %s, want %s (ranges %+v)", what, sh.ShardID, sh.HashKeyRange.StartingHashKey, next, sorted)
		}
		next = new(big.Int).Add(kinBig(t, sh.HashKeyRange.EndingHashKey), big.NewInt(1))
	}
	if next.Cmp(new(big.Int).Lsh(big.NewInt(1), 128)) != 0 {
		t.Fatalf("%s end at %s, want 2^128-1", what, new(big.Int).Sub(next, big.NewInt(1)))
	}
}

func kinInRange(t *testing.T, key *big.Int, r kinHashRange) bool {
	return kinBig(t, r.StartingHashKey).Cmp(key) <= 0 && key.Cmp(kinBig(t, r.EndingHashKey)) <= 0
}

func kinBig(t *testing.T, s string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("hash key %q is not a decimal integer", s)
	}
	return n
}

func kinByID(shards []kinShard) map[string]kinShard {
	m := map[string]kinShard{}
	for _, sh := range shards {
		m[sh.ShardID] = sh
	}
	return m
}
