package config

// For the tests of package config_test, which load pipeline.yaml through the pipeline's steps.
const Valid = valid

var Fixture = fixture
