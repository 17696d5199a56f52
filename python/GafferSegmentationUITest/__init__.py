from .DocumentationTest import DocumentationTest
from .NodeMenuTest import NodeMenuTest

if __name__ == "__main__" :
	import unittest
	unittest.main()
