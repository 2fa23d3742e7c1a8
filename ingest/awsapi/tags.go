package awsapi

import (
	"context"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// AWS's limits on tags (Kinesis and Firehose alike).
const (
	maxTagsPerResource = 50
	maxTagKey          = 128
	maxTagValue        = 256
	// maxTagsPerAdd is how many tags one AddTagsToStream may set.
	maxTagsPerAdd = 10
)

// tagPattern is what tag keys and values may hold: Unicode letters,
// digits, white space and _ . : / = + - @ % (Kinesis names % and Firehose
// names :, so both are taken).
var tagPattern = regexp.MustCompile(`^[\p{L}\p{Z}\p{N}_.:/=+\-@%]*$`)

// checkTag validates one tag; field names it in messages.
func checkTag(key, value, field string) *apiError {
	switch n := utf8.RuneCountInString(key); {
	case n < 1:
		return errValidation("%s", validationMessage(key, field+".key", "Member must have length greater than or equal to 1"))
	case n > maxTagKey:
		return errValidation("%s", validationMessage(key, field+".key", "Member must have length less than or equal to 128"))
	}
	if utf8.RuneCountInString(value) > maxTagValue {
		return errValidation("%s", validationMessage(value, field+".value", "Member must have length less than or equal to 256"))
	}
	if !tagPattern.MatchString(key) || !tagPattern.MatchString(value) {
		return errInvalidArgument("Tag %q=%q: tag keys and values may only contain Unicode letters, digits, white space and _ . : / = + - @ %%", key, value)
	}
	if strings.HasPrefix(strings.ToLower(key), "aws:") {
		return errInvalidArgument("Tag key %q: the aws: prefix is reserved for tags AWS sets", key)
	}
	return nil
}

// checkTags validates the tags of one request.
func checkTags(tags map[string]string, field string) *apiError {
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if aerr := checkTag(k, tags[k], field); aerr != nil {
			return aerr
		}
	}
	return nil
}

// errTooManyTags is the error of a change that would leave a resource
// with more than 50 tags.
func errTooManyTags(resource string, n int) *apiError {
	return newError(http.StatusBadRequest, "LimitExceededException",
		"%s would have %d tags: a resource may have at most %d", resource, n, maxTagsPerResource)
}

// addTags returns a change of settings that sets tags.
func addTags(resource string, tags map[string]string) func(*settings) *apiError {
	return func(st *settings) *apiError {
		merged := maps.Clone(st.Tags)
		if merged == nil {
			merged = map[string]string{}
		}
		maps.Copy(merged, tags)
		if len(merged) > maxTagsPerResource {
			return errTooManyTags(resource, len(merged))
		}
		st.Tags = merged
		return nil
	}
}

// removeTags returns a change of settings that removes the tags of keys;
// keys a resource does not have are no error.
func removeTags(keys []string) func(*settings) *apiError {
	return func(st *settings) *apiError {
		for _, k := range keys {
			delete(st.Tags, k)
		}
		if len(st.Tags) == 0 {
			st.Tags = nil
		}
		return nil
	}
}

// checkTagKeys validates the keys of an untag request (1 to 50 of them).
func checkTagKeys(keys []string, field string) *apiError {
	if len(keys) < 1 {
		return errValidation("%s", validationMessage("[]", field, "Member must have length greater than or equal to 1"))
	}
	if len(keys) > maxTagsPerResource {
		return errValidation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, maxTagsPerResource)
	}
	for _, k := range keys {
		if n := utf8.RuneCountInString(k); n < 1 || n > maxTagKey {
			return errValidation("%s", validationMessage(k, field+".member", "Member must have length between 1 and 128"))
		}
	}
	return nil
}

// tag is a tag as the lists carry it.
type tag struct {
	Key   string  `json:"Key"`
	Value *string `json:"Value,omitempty"`
}

// tagList returns tags sorted by key, after the key after (""; from the
// first), at most limit of them (0: all), and whether there are more.
func tagList(tags map[string]string, after string, limit int) ([]tag, bool) {
	out := []tag{}
	for _, k := range slices.Sorted(maps.Keys(tags)) {
		if after != "" && k <= after {
			continue
		}
		if limit > 0 && len(out) == limit {
			return out, true
		}
		v := tags[k]
		out = append(out, tag{Key: k, Value: &v})
	}
	return out, false
}

type addTagsToStreamRequest struct {
	streamRef
	Tags map[string]string `json:"Tags"`
}

func (s *Server) addTagsToStream(ctx context.Context, c *call, req *addTagsToStreamRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	switch n := len(req.Tags); {
	case n < 1:
		return nil, errValidation("%s", validationMessage(nil, "tags", "Member must have length greater than or equal to 1"))
	case n > maxTagsPerAdd:
		return nil, errInvalidArgument("AddTagsToStream sets at most %d tags per call; this one has %d: send them in several calls", maxTagsPerAdd, n)
	}
	if aerr := checkTags(req.Tags, "tags"); aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, settingsKey(kindStream, st.Name), addTags("Stream "+st.Name, req.Tags))
	return struct{}{}, aerr
}

type removeTagsFromStreamRequest struct {
	streamRef
	TagKeys []string `json:"TagKeys"`
}

func (s *Server) removeTagsFromStream(ctx context.Context, c *call, req *removeTagsFromStreamRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkTagKeys(req.TagKeys, "tagKeys"); aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, settingsKey(kindStream, st.Name), removeTags(req.TagKeys))
	return struct{}{}, aerr
}

type listTagsForStreamRequest struct {
	streamRef
	ExclusiveStartTagKey string `json:"ExclusiveStartTagKey,omitempty"`
	Limit                int    `json:"Limit,omitempty"`
}

type listTagsResponse struct {
	Tags        []tag `json:"Tags"`
	HasMoreTags bool  `json:"HasMoreTags"`
}

func (s *Server) listTagsForStream(ctx context.Context, c *call, req *listTagsForStreamRequest) (any, *apiError) {
	st, aerr := s.stream(req.streamRef)
	if aerr != nil {
		return nil, aerr
	}
	if req.Limit < 0 || req.Limit > maxTagsPerResource {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 50"))
	}
	set, _, err := s.loadSettings(ctx, settingsKey(kindStream, st.Name))
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	tags, more := tagList(set.Tags, req.ExclusiveStartTagKey, req.Limit)
	return listTagsResponse{Tags: tags, HasMoreTags: more}, nil
}

// resourceRef is how the ARN-based tag operations name a stream or a
// stream consumer.
type resourceRef struct {
	ResourceARN string `json:"ResourceARN"`
}

func (r *resourceRef) resource(*Server) (string, string) {
	name, _ := nameFromARN(r.ResourceARN, "stream")
	return "stream", name // a consumer's ARN is its stream's, then /consumer/...
}

// resourceKey resolves a ResourceARN to the key of its settings and a name
// for messages.
func (s *Server) resourceKey(ctx context.Context, arn string) (string, string, *apiError) {
	if arn == "" {
		return "", "", errValidation("%s", validationMessage(nil, "resourceARN", "Member must not be null"))
	}
	rest, ok := nameFromARN(arn, "stream")
	if !ok || !strings.HasPrefix(arn, "arn:aws:kinesis:") {
		return "", "", errInvalidArgument("ResourceARN %q is not the ARN of a Kinesis stream or stream consumer", arn)
	}
	stream, consumer, isConsumer := strings.Cut(rest, "/consumer/")
	st, aerr := s.stream(streamRef{StreamName: stream})
	if aerr != nil {
		return "", "", aerr
	}
	if !isConsumer {
		return settingsKey(kindStream, st.Name), "Stream " + st.Name, nil
	}
	ref, aerr := s.parseConsumerARN(arn)
	if aerr != nil {
		return "", "", aerr
	}
	if _, _, aerr := s.findByRef(ctx, ref, s.now()); aerr != nil {
		return "", "", aerr
	}
	// Keyed by the whole "NAME:CREATION": a consumer registered again
	// under its name has another ARN, and none of the earlier one's tags.
	return settingsKey(kindConsumer, st.Name, consumer), "Consumer " + ref.name, nil
}

type tagResourceRequest struct {
	resourceRef
	Tags map[string]string `json:"Tags"`
}

func (s *Server) tagResource(ctx context.Context, c *call, req *tagResourceRequest) (any, *apiError) {
	key, what, aerr := s.resourceKey(ctx, req.ResourceARN)
	if aerr != nil {
		return nil, aerr
	}
	if len(req.Tags) < 1 {
		return nil, errValidation("%s", validationMessage(nil, "tags", "Member must have length greater than or equal to 1"))
	}
	if aerr := checkTags(req.Tags, "tags"); aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, key, addTags(what, req.Tags))
	return struct{}{}, aerr
}

type untagResourceRequest struct {
	resourceRef
	TagKeys []string `json:"TagKeys"`
}

func (s *Server) untagResource(ctx context.Context, c *call, req *untagResourceRequest) (any, *apiError) {
	key, _, aerr := s.resourceKey(ctx, req.ResourceARN)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkTagKeys(req.TagKeys, "tagKeys"); aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, key, removeTags(req.TagKeys))
	return struct{}{}, aerr
}

func (s *Server) listTagsForResource(ctx context.Context, c *call, req *resourceRef) (any, *apiError) {
	key, _, aerr := s.resourceKey(ctx, req.ResourceARN)
	if aerr != nil {
		return nil, aerr
	}
	set, _, err := s.loadSettings(ctx, key)
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	tags, _ := tagList(set.Tags, "", 0)
	return map[string][]tag{"Tags": tags}, nil
}

// checkNewTags validates the tags a create request gives a new resource.
func (s *Server) checkNewTags(tags map[string]string, resource string) *apiError {
	if len(tags) > maxTagsPerResource {
		return errTooManyTags(resource, len(tags))
	}
	return checkTags(tags, "tags")
}

// newResourceTags stores the tags of a resource just created, replacing
// whatever one of the same name, deleted, left behind.
func (s *Server) newResourceTags(ctx context.Context, key string, tags map[string]string) (any, *apiError) {
	if len(tags) == 0 {
		tags = nil
	}
	if err := s.putSettings(context.WithoutCancel(ctx), key, settings{Tags: tags}); err != nil {
		return nil, s.internal("store a new resource's tags", err)
	}
	return struct{}{}, nil
}
