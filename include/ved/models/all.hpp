#pragma once

// Every model family ved knows. Including a family's header registers its model_type.
#include "ved/models/gpt2.hpp"
#include "ved/models/vit.hpp"
