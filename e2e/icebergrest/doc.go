// Package icebergrest starts a real Apache Iceberg REST catalog for tests:
// org.apache.iceberg.rest.RESTCatalogServer, the server Apache Iceberg
// publishes in the test-fixtures jar of org.apache.iceberg:iceberg-open-api
// (what the apache/iceberg-rest-fixture Docker image runs), in a JVM on a
// random loopback port. Behind it is Iceberg's JdbcCatalog on a SQLite file
// in a temporary directory, and S3FileIO writes table metadata to the
// warehouse in a given S3 endpoint (a MinIO from e2e/minio in the tests).
// Stop and Start take the server down and bring it back on the same port
// with the same SQLite file, to test outages; it is killed when the test ends.
//
// The jars are gathered once by `make icebergrest` (e2e/icebergrest/pom.xml)
// into .cache/icebergrest, or the directory named by HYDRANT_ICEBERG_REST;
// the JVM is $JAVA_HOME/bin/java, else java on PATH (Java 17 or later).
//
// The server is configured as the Docker image is, through CATALOG_*
// environment variables: CATALOG_FOO__BAR_BAZ becomes the catalog property
// foo-bar.baz (so CATALOG_REST_PORT is rest.port, its listening port).
// It answers /v1/config with no defaults or overrides, and its LoadTable
// responses carry no S3 settings unless Options.IncludeCredentials is set,
// and then only the access key and secret, never the endpoint: a client
// names the endpoint itself.
package icebergrest
