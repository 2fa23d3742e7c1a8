package awsapi

import (
	"context"
)

// Firehose's tags: the same limits as Kinesis's, as a list of {Key, Value}
// where Value may be left out.

// tagMap validates a Firehose tag list (1 to 50 tags) and returns it as a
// map.
func tagMap(tags []tag, field string) (map[string]string, *apiError) {
	if len(tags) < 1 {
		return nil, errValidation("%s", validationMessage("[]", field, "Member must have length greater than or equal to 1"))
	}
	if len(tags) > maxTagsPerResource {
		return nil, errValidation("1 validation error detected: Value at '%s' failed to satisfy constraint: Member must have length less than or equal to %d", field, maxTagsPerResource)
	}
	out := make(map[string]string, len(tags))
	for i, t := range tags {
		v := ""
		if t.Value != nil {
			v = *t.Value
		}
		if aerr := checkTag(t.Key, v, field+"."+itoa(i+1)+".member"); aerr != nil {
			return nil, aerr
		}
		out[t.Key] = v
	}
	return out, nil
}

type tagDeliveryStreamRequest struct {
	DeliveryStreamName string `json:"DeliveryStreamName"`
	Tags               []tag  `json:"Tags"`
}

func (r *tagDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (s *Server) tagDeliveryStream(ctx context.Context, c *call, req *tagDeliveryStreamRequest) (any, *apiError) {
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	tags, aerr := tagMap(req.Tags, "tags")
	if aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, settingsKey(kindDelivery, d.Name), addTags("Firehose "+d.Name, tags))
	return struct{}{}, aerr
}

type untagDeliveryStreamRequest struct {
	DeliveryStreamName string   `json:"DeliveryStreamName"`
	TagKeys            []string `json:"TagKeys"`
}

func (r *untagDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (s *Server) untagDeliveryStream(ctx context.Context, c *call, req *untagDeliveryStreamRequest) (any, *apiError) {
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if aerr := checkTagKeys(req.TagKeys, "tagKeys"); aerr != nil {
		return nil, aerr
	}
	_, aerr = s.changeSettings(ctx, settingsKey(kindDelivery, d.Name), removeTags(req.TagKeys))
	return struct{}{}, aerr
}

type listTagsForDeliveryStreamRequest struct {
	DeliveryStreamName   string `json:"DeliveryStreamName"`
	ExclusiveStartTagKey string `json:"ExclusiveStartTagKey,omitempty"`
	Limit                int    `json:"Limit,omitempty"`
}

func (r *listTagsForDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (s *Server) listTagsForDeliveryStream(ctx context.Context, c *call, req *listTagsForDeliveryStreamRequest) (any, *apiError) {
	d, aerr := s.delivery(req.DeliveryStreamName)
	if aerr != nil {
		return nil, aerr
	}
	if req.Limit < 0 || req.Limit > maxTagsPerResource {
		return nil, errValidation("%s", validationMessage(req.Limit, "limit", "Member must have value between 1 and 50"))
	}
	set, _, err := s.loadSettings(ctx, settingsKey(kindDelivery, d.Name))
	if err != nil {
		return nil, s.internal("read settings", err)
	}
	tags, more := tagList(set.Tags, req.ExclusiveStartTagKey, req.Limit)
	return listTagsResponse{Tags: tags, HasMoreTags: more}, nil
}

// createTags validates CreateDeliveryStream's Tags (none is fine).
func createTags(tags []tag) (map[string]string, *apiError) {
	if tags == nil {
		return nil, nil
	}
	return tagMap(tags, "tags")
}
