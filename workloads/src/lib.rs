pub mod marketplace;
