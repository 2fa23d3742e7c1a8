package awsapi

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"unicode/utf8"
)

// jsonStreamer is an answer written to the client as JSON while it is
// encoded, instead of encoded whole first: a GetRecords answer of 10 MiB
// would otherwise be held three times over (the records, their base64
// JSON, and that buffer's copy) until written. It writes exactly what
// encoding/json.Marshal would.
type jsonStreamer interface {
	streamJSON(w *bufio.Writer) error
}

// streamBuffer is the writer's buffer for a streamed answer.
const streamBuffer = 64 << 10

// writeStream writes v's JSON to w through a buffer.
func writeStream(w io.Writer, v jsonStreamer) error {
	bw := bufio.NewWriterSize(w, streamBuffer)
	if err := v.streamJSON(bw); err != nil {
		return err
	}
	return bw.Flush()
}

func (r getRecordsResponse) streamJSON(w *bufio.Writer) error {
	var scratch []byte
	w.WriteString(`{"Records":`)
	if r.Records == nil {
		w.WriteString("null")
	} else {
		w.WriteByte('[')
		for i, rec := range r.Records {
			if i > 0 {
				w.WriteByte(',')
			}
			scratch = appendJSONString(append(scratch[:0], `{"SequenceNumber":`...), rec.SequenceNumber)
			scratch = append(scratch, `,"ApproximateArrivalTimestamp":`...)
			scratch = rec.ApproximateArrivalTimestamp.appendJSON(scratch)
			scratch = append(scratch, `,"Data":`...)
			if rec.Data == nil {
				scratch = append(scratch, "null"...)
			} else {
				scratch = append(scratch, '"')
				scratch = base64.StdEncoding.AppendEncode(scratch, rec.Data)
				scratch = append(scratch, '"')
			}
			scratch = appendJSONString(append(scratch, `,"PartitionKey":`...), rec.PartitionKey)
			if rec.EncryptionType != "" {
				scratch = appendJSONString(append(scratch, `,"EncryptionType":`...), rec.EncryptionType)
			}
			scratch = append(scratch, '}')
			if _, err := w.Write(scratch); err != nil {
				return err
			}
		}
		w.WriteByte(']')
	}
	scratch = scratch[:0]
	if r.NextShardIterator != nil {
		scratch = appendJSONString(append(scratch, `,"NextShardIterator":`...), *r.NextShardIterator)
	}
	scratch = append(scratch, `,"MillisBehindLatest":`...)
	scratch = strconv.AppendInt(scratch, r.MillisBehindLatest, 10)
	if len(r.ChildShards) > 0 {
		children, err := json.Marshal(r.ChildShards) // a few, once per closed shard
		if err != nil {
			return err
		}
		scratch = append(append(scratch, `,"ChildShards":`...), children...)
	}
	scratch = append(scratch, '}')
	_, err := w.Write(scratch)
	return err
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as encoding/json encodes a string: HTML
// characters, control characters, U+2028 and U+2029 escaped, invalid
// UTF-8 replaced by U+FFFD.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' && b != '<' && b != '>' && b != '&' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}
