package awsapi

import (
	"sort"
)

// StaticCatalog is a Catalog of a fixed set of streams and deliveries, as a
// config file declares them.
type StaticCatalog struct {
	streams    []Stream
	deliveries []Delivery
}

// NewStaticCatalog returns a catalog of streams and deliveries.
func NewStaticCatalog(streams []Stream, deliveries []Delivery) *StaticCatalog {
	c := &StaticCatalog{streams: append([]Stream(nil), streams...), deliveries: append([]Delivery(nil), deliveries...)}
	sort.Slice(c.streams, func(i, j int) bool { return c.streams[i].Name < c.streams[j].Name })
	sort.Slice(c.deliveries, func(i, j int) bool { return c.deliveries[i].Name < c.deliveries[j].Name })
	return c
}

// Stream returns a stream by name.
func (c *StaticCatalog) Stream(name string) (Stream, bool) {
	i := sort.Search(len(c.streams), func(i int) bool { return c.streams[i].Name >= name })
	if i < len(c.streams) && c.streams[i].Name == name {
		return c.streams[i], true
	}
	return Stream{}, false
}

// Streams returns every stream, sorted by name.
func (c *StaticCatalog) Streams() []Stream { return c.streams }

// Delivery returns a delivery by name.
func (c *StaticCatalog) Delivery(name string) (Delivery, bool) {
	i := sort.Search(len(c.deliveries), func(i int) bool { return c.deliveries[i].Name >= name })
	if i < len(c.deliveries) && c.deliveries[i].Name == name {
		return c.deliveries[i], true
	}
	return Delivery{}, false
}

// Deliveries returns every delivery, sorted by name.
func (c *StaticCatalog) Deliveries() []Delivery { return c.deliveries }
