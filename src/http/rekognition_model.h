// botocore's service model of Amazon Rekognition, trimmed to the operations
// Concierge serves (generated into rekognition_model.cc by
// scripts/rekognition-model.py). AwsServiceModel (aws_model.h) reads it.
#pragma once

namespace concierge {

// The model as one JSON document: {"botocore": version, "metadata": {...},
// "operations": {name: {"input", "output", "errors"}}, "shapes": {...}}.
const char* RekognitionModelJson();

}  // namespace concierge
