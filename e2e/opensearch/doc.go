// Package opensearch starts a real Elasticsearch-API search server for tests:
// a single OpenSearch 2.19 node run embedded in a JVM (server/Main.java) on a
// fixed random 127.0.0.1 port, with its data in a temporary directory that
// survives Stop and Start, killed when the test ends. The jars are built once
// by `make opensearch` into .cache/opensearch (or the directory named by
// HYDRANT_OPENSEARCH); the JVM is $JAVA_HOME/bin/java, else java on PATH.
//
// OpenSearch answers the Elasticsearch REST API that Hydrant's destination
// uses (_bulk, index creation, _refresh, _count), but it does not send the
// X-Elastic-Product header, so clients that insist on it do not accept it.
package opensearch
