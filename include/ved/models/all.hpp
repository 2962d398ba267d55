#pragma once

// Every model family ved knows; src/models.cpp maps their model_type names to them.
#include "ved/models/bart.hpp"
#include "ved/models/beit.hpp"
#include "ved/models/bert.hpp"
#include "ved/models/deit.hpp"
#include "ved/models/donut_swin.hpp"
#include "ved/models/gpt2.hpp"
#include "ved/models/mbart.hpp"
#include "ved/models/roberta.hpp"
#include "ved/models/swin.hpp"
#include "ved/models/trocr.hpp"
#include "ved/models/vit.hpp"
